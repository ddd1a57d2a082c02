"""Which tf.distribute strategy the TensorFlow models train under, and training under the
others: MirroredStrategy over two logical CPUs and MultiWorkerMirroredStrategy with two local
worker processes (each in fresh processes: tests/models/distributed_fits.py)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shoprec.errors import ConfigError
from shoprec.models import devices

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


def _tf_config(workers: int, index: int = 0, chief: bool = False) -> str:
    cluster = {"worker": [f"127.0.0.1:{2000 + i}" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:1999"]
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def test_tf_config_counts_the_training_tasks():
    assert devices.tf_config_workers({}) == 0
    assert devices.tf_config_workers({"TF_CONFIG": ""}) == 0
    assert devices.tf_config_workers({"TF_CONFIG": _tf_config(1)}) == 1
    assert devices.tf_config_workers({"TF_CONFIG": _tf_config(2)}) == 2
    assert devices.tf_config_workers({"TF_CONFIG": _tf_config(2, chief=True)}) == 3
    evaluator = {"cluster": {"worker": ["a:1"], "evaluator": ["b:1"]}, "task": {}}
    assert devices.tf_config_workers({"TF_CONFIG": json.dumps(evaluator)}) == 1


def test_a_bad_tf_config_is_a_readable_error():
    with pytest.raises(ConfigError, match="not JSON"):
        devices.tf_config_workers({"TF_CONFIG": "{cluster"})
    no_task = json.dumps({"cluster": {"worker": ["a:1", "b:1"]}})
    with pytest.raises(ConfigError, match="task"):
        devices.tf_config_workers({"TF_CONFIG": no_task})
    with pytest.raises(ConfigError, match=r"cluster\.worker"):
        devices.tf_config_workers({"TF_CONFIG": json.dumps({"cluster": {"worker": "a:1"}})})


def _python(*args: str, env: dict | None = None, timeout: float = TIMEOUT_S) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.models.distributed_fits", *args],
        cwd=ROOT,
        env={**_clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    # the logical CPUs and loopback workers are the devices here, not a GPU the machine has
    return {**env, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.slow
def test_one_device_trains_under_the_default_strategy(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        pytest.skip("this machine has several GPUs: MirroredStrategy is the right pick")
    strategy = devices.training_strategy()
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
    assert devices.describe(strategy) == {
        "strategy": "DefaultDistributionStrategy",
        "replicas": 1,
        "workers": 1,
    }
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    with mirrored.scope():  # the caller's own strategy wins
        assert devices.training_strategy() is mirrored


@pytest.mark.slow
def test_mirrored_strategy_over_two_cpus_trains_the_sequential_network():
    """2 replicas × 32 windows against one device × 64: the same global batches, the losses
    and item vectors close (not equal: see shoprec.models.sequential.model)."""
    result = _python("mirrored-sequential")
    one, two = result["one"], result["two"]
    assert one["replicas"] == 1 and one["strategy"] == "DefaultDistributionStrategy"
    assert two["strategy"] == "MirroredStrategy" and two["replicas"] == 2
    assert two["batch_size"] == one["batch_size"] == 64
    assert two["loss"][-1] < two["loss"][0]
    for a, b in zip(one["loss"], two["loss"], strict=True):
        assert abs(a - b) < 0.1 * a
    assert result["finite"] and result["cosine"] > 0.95


@pytest.mark.slow
def test_mirrored_strategy_over_two_cpus_trains_saves_and_loads_the_two_tower(tmp_path):
    result = _python("mirrored-two-tower", str(tmp_path / "model"))
    one, two = result["one"], result["two"]
    assert two["strategy"] == "MirroredStrategy" and two["replicas"] == 2
    assert two["batch_size"] == one["batch_size"]  # 2 × 64 against 1 × 128
    assert two["loss"][-1] < two["loss"][0]
    # it learns what one device learns: users prefer their category
    assert one["loss"][-1] < one["loss"][0] and result["one_margin"] > 0.05
    assert result["two_margin"] > 0.05
    mixed = result["mixed"]
    assert mixed["replicas"] == 2 and result["mixed_finite"]
    assert all(math.isfinite(x) for x in mixed["loss"]) and mixed["loss"][-1] < mixed["loss"][0]
    assert result["loaded_max_diff"] < 1e-6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_with_two_local_workers():
    """Two worker processes on loopback ports, one CPU each: both train in step (the same
    losses, validation scores and bit-identical vectors) on 2 replicas."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    procs = []
    for index in range(2):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.models.distributed_fits", "worker"],
                cwd=ROOT,
                env={**_clean_env(), "TF_CONFIG": json.dumps(task)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT_S)
            assert proc.returncode == 0, err[-4000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    first, second = results
    assert first["strategy"] == "MultiWorkerMirroredStrategy"
    assert first["workers"] == 2 and first["replicas"] == 2 and first["batch_size"] == 64
    assert first["loss"][-1] < first["loss"][0] and len(first["val"]) == 2
    for key in ("loss", "val", "vectors_sha256"):
        assert first[key] == second[key], key
