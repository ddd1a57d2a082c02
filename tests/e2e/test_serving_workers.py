"""``shoprec serve --workers 2`` as a user runs it: two processes behind one port, both loading
the verified model, both moving to a newly promoted version, one /metrics over both."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from shoprec.registry import LocalStore, Registry
from tests.conftest import free_port
from tests.e2e.test_serving import NAME, publish
from tests.projects import REPO_ROOT

pytestmark = pytest.mark.slow


def versions_by_worker(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        pid: float(value)
        for pid, value in re.findall(r'shoprec_model_version\{.*?pid="(\d+)"\} (\S+)', text)
    }


def wait_for(condition, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_two_workers_share_the_port_and_both_follow_the_alias(two_stage_fit, tiny_shop, tmp_path):
    model_dir = two_stage_fit[0].save(tmp_path / NAME)
    registry = Registry(LocalStore(tmp_path / "registry"))
    publish(registry, model_dir)
    items_path = tmp_path / "items.parquet"
    tiny_shop["items"].astype({"price": float}).to_parquet(items_path)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["serving"].update(poll_interval_s=0.5, savedmodels={})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    port = free_port()
    command = [sys.executable, "-m", "shoprec", "serve", "--workers", "2", "--port", str(port)]
    command += ["--registry", str(tmp_path / "registry"), "--model", NAME]
    command += ["--items", str(items_path), "--params", str(tmp_path / "params.yaml")]
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    user = str(two_stage_fit[0].history.user_ids[0])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            workers = wait_for(lambda: len(versions_by_worker(client)) == 2 and client)
            assert set(versions_by_worker(workers).values()) == {1.0}
            answers = [workers.get(f"/v1/recommendations/{user}") for _ in range(40)]
            assert all(a.status_code == 200 for a in answers)
            assert {a.json()["version"] for a in answers} == {1}
            counted = re.search(
                r'shoprec_requests_total\{endpoint="/v1/recommendations/\{user_id\}",'
                r'status="200"\} (\S+)',
                workers.get("/metrics").text,
            )
            assert float(counted.group(1)) == 40.0  # summed over both workers

            publish(registry, model_dir)  # v2 behind the alias
            wait_for(lambda: set(versions_by_worker(workers).values()) == {2.0})
            assert len(versions_by_worker(workers)) == 2
            assert workers.get(f"/v1/recommendations/{user}").json()["version"] == 2
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output[-3000:]
