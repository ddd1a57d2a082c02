"""The compute switch: the local engine runs in this process, the Dask engine on a real
cluster (a LocalCluster it starts, or a scheduler at an address)."""

from __future__ import annotations

import os
import time

import pytest

from shoprec.compute import dask_client, fan_out
from shoprec.config import ComputeParams
from shoprec.errors import ConfigError


def _pid(_item: int) -> int:
    return os.getpid()


def test_the_local_engine_has_no_client_and_fans_out_in_this_process():
    with dask_client(ComputeParams()) as client:
        assert client is None
        assert set(fan_out(client, _pid, range(4))) == {os.getpid()}


def test_the_dask_engine_runs_tasks_in_worker_processes(dask_scheduler):
    with dask_client(ComputeParams(engine="dask", address=dask_scheduler)) as client:
        pids = fan_out(client, _pid, range(8))
        squares = fan_out(client, pow, [1, 2, 3], exp=2)
    assert os.getpid() not in pids
    assert squares == [1, 4, 9]  # in the order of the inputs


def test_the_environment_overrides_the_address(dask_scheduler, monkeypatch):
    monkeypatch.setenv("SHOPREC_DASK_ADDRESS", dask_scheduler)
    settings = ComputeParams(engine="dask", address="tcp://127.0.0.1:9")
    assert settings.resolved_address() == dask_scheduler
    with dask_client(settings) as client:
        assert client.scheduler.address == dask_scheduler


def test_an_unreachable_scheduler_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("SHOPREC_DASK_ADDRESS", raising=False)
    monkeypatch.setattr("shoprec.compute.CONNECT_TIMEOUT_S", 2)
    with (
        pytest.raises(ConfigError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9"),
        dask_client(ComputeParams(engine="dask", address="tcp://127.0.0.1:9")),
    ):
        pass


def test_a_local_cluster_is_started_and_closed():
    settings = ComputeParams(engine="dask", n_workers=1, memory_limit="1GiB")
    with dask_client(settings) as client:
        assert len(client.scheduler_info()["workers"]) == 1
        assert fan_out(client, pow, [3], exp=2) == [9]
    assert client.status == "closed"


def _length(item: int, values: list[int]) -> int:
    return item + len(values)


def test_a_large_keyword_value_reaches_every_task(dask_scheduler):
    big = list(range(200_000))  # over Dask's 100 kB limit for values inside the task graph
    with dask_client(ComputeParams(engine="dask", address=dask_scheduler)) as client:
        assert fan_out(client, _length, [0, 1, 2], values=big) == [200_000, 200_001, 200_002]


def _tasks_named(prefix: str, dask_scheduler=None) -> list[str]:
    return [str(key) for key in dask_scheduler.tasks if str(key).startswith(prefix)]


def test_fan_out_leaves_no_result_on_the_workers(dask_scheduler):
    with dask_client(ComputeParams(engine="dask", address=dask_scheduler)) as client:
        assert fan_out(client, _length, [0, 1], values=[7]) == [1, 2]
        for _ in range(50):  # releases reach the scheduler asynchronously
            held = client.run_on_scheduler(_tasks_named, "_length-")
            if not held:
                break
            time.sleep(0.1)
    assert held == []


def _fail_on_two(item: int) -> int:
    if item == 2:
        raise ValueError("task two failed")
    return item


def test_a_failing_task_raises_its_own_error(dask_scheduler):
    with (
        dask_client(ComputeParams(engine="dask", address=dask_scheduler)) as client,
        pytest.raises(ValueError, match="task two failed"),
    ):
        fan_out(client, _fail_on_two, range(4))
