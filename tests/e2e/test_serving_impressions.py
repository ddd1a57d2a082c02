"""The impressions log of a real service over HTTP: one row per answered request, the same
items, ranks, version and fallback as the answer, the request id of the response header; written
to a folder and to S3 (moto); a clean stop writes what was still pending, with one worker and
with two (each writes its own parts)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from shoprec.impressions import ImpressionWriter, open_log, read_impressions
from shoprec.registry import LocalStore
from shoprec.serving.app import ServiceSettings, create_app
from shoprec.serving.reloader import ModelHolder
from tests.conftest import free_port, new_bucket
from tests.e2e.test_serving import NAME, Server, known_users, world  # noqa: F401
from tests.e2e.test_serving_workers import versions_by_worker, wait_for
from tests.projects import REPO_ROOT

pytestmark = pytest.mark.slow
PART = re.compile(r"part-\d{8}T\d{6}-(\d+)-")


def test_every_answer_is_one_row_with_what_was_served(world, tmp_path):  # noqa: F811
    store = LocalStore(tmp_path / "impressions")
    holder = ModelHolder(world["registry"], NAME, "production", world["items_path"])
    writer = ImpressionWriter(store, flush_s=0.2)
    app = create_app(holder, ServiceSettings(poll_interval_s=60), impressions=writer)
    first, second = known_users(world, 2)
    category = str(world["items"]["category"].iloc[0]).split("/")[0]
    item = str(world["model"].history.item_ids[0])
    with Server(app) as api:
        answers = [
            api.get(f"/v1/recommendations/{first}?k=5", headers={"X-Request-ID": "shop-123"}),
            api.get(f"/v1/recommendations/{second}", params={"k": 3, "category": category}),
            api.get("/v1/recommendations/someone-new?k=4", headers={"X-Request-ID": "bad id!"}),
            api.get(f"/v1/similar/{item}?k=3"),
        ]
        refused = [api.get(f"/v1/recommendations/{first}?k=0"), api.get("/v1/similar/nope")]
    assert [a.status_code for a in answers] == [200] * 4
    assert [r.status_code for r in refused] == [422, 404]
    ids = [a.headers["x-request-id"] for a in answers]
    assert ids[0] == "shop-123" and len(set(ids)) == 4
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids[1:])
    assert all(re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]) for r in refused)

    rows = read_impressions(store).set_index("request_id")
    assert sorted(rows.index) == sorted(ids)  # one row per answer, none for the refused ones
    for answer, rid in zip(answers, ids, strict=True):
        body, row = answer.json(), rows.loc[rid]
        assert list(row["items"]) == [i["item_id"] for i in body["items"]]
        assert list(row["ranks"]) == [i["rank"] for i in body["items"]]
        assert (row["model"], row["version"]) == (NAME, 1)
    assert rows.loc[ids, "user_id"].tolist() == [first, second, "someone-new", ""]
    assert rows.loc[ids, "fallback"].tolist() == [False, False, True, False]
    assert rows.loc[ids, "endpoint"].tolist() == ["recommendations"] * 3 + ["similar"]
    assert rows.loc[ids, "k"].tolist() == [5, 3, 4, 3]
    assert rows.loc[ids[1], "category"] == category and pd.isna(rows.loc[ids[0], "category"])
    assert rows.loc[ids[3], "seed_item"] == item


# -- `shoprec serve` as a user runs it ------------------------------------------------------------
def serve(project: dict, tmp_path: Path, workers: int = 1, env: dict | None = None, **settings):
    """``shoprec serve`` in a subprocess on a free port (its output to ``tmp_path/serve.log``),
    the repository's params with ``settings`` merged in per section; the port once ready."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["serving"].update(poll_interval_s=0.5, savedmodels={})
    for section, values in settings.items():
        params[section].update(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    port = free_port()
    command = [sys.executable, "-m", "shoprec", "serve", "--workers", str(workers)]
    command += ["--port", str(port), "--registry", str(project["registry_dir"])]
    command += ["--model", project.get("name", NAME), "--items", str(project["items_path"])]
    command += ["--params", str(tmp_path / "params.yaml")]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True, env=env
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    raise AssertionError("the service did not become ready")


def stop(server: subprocess.Popen, tmp_path: Path) -> str:
    """SIGTERM, as a process manager stops it; the service's output (it must exit 0)."""
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    output = (tmp_path / "serve.log").read_text()
    assert server.returncode == 0, output[-3000:]
    return output


@pytest.fixture
def world_dir(world):  # noqa: F811
    return {**world, "registry_dir": world["registry"].store.root}


def test_a_clean_stop_writes_what_was_pending_to_s3(world_dir, tmp_path, s3_env):
    uri = f"s3://{new_bucket(s3_env)}/impressions"
    server, base = serve(
        world_dir, tmp_path, serving={"impressions": uri, "impressions_flush_s": 600}
    )
    user = known_users(world_dir)[0]
    try:
        answers = [httpx.get(f"{base}/v1/recommendations/{user}?k=4") for _ in range(12)]
        answers.append(httpx.get(f"{base}/v1/recommendations/someone-new?k=2"))
        assert read_impressions(open_log(uri)).empty  # still pending: the flush is 10 min off
    finally:
        output = stop(server, tmp_path)
    rows = read_impressions(open_log(uri))
    assert sorted(rows["request_id"]) == sorted(a.headers["x-request-id"] for a in answers)
    served = {a.headers["x-request-id"]: [i["item_id"] for i in a.json()["items"]] for a in answers}
    assert all(list(r.items) == served[r.request_id] for r in rows.itertuples())
    assert rows["fallback"].sum() == 1 and set(rows["version"]) == {1}
    assert "Traceback" not in output


def test_two_workers_each_write_their_parts_and_lose_nothing(world_dir, tmp_path):
    folder = tmp_path / "impressions"
    server, base = serve(
        world_dir,
        tmp_path,
        workers=2,
        serving={"impressions": "impressions", "impressions_flush_s": 0.3},
    )
    users = known_users(world_dir, 20)
    with httpx.Client(base_url=base) as client:  # each worker has loaded the model
        wait_for(lambda: len(versions_by_worker(client)) == 2)

    def ask(i: int) -> str:  # a connection of its own: the kernel picks the worker
        reply = httpx.get(f"{base}/v1/recommendations/{users[i % len(users)]}?k=3")
        assert reply.status_code == 200
        return reply.headers["x-request-id"]

    def writers() -> set[str]:
        return {m.group(1) for p in folder.rglob("*.parquet") if (m := PART.search(p.name))}

    sent: list[str] = []
    try:
        with ThreadPoolExecutor(8) as pool:
            deadline = time.monotonic() + 60
            while len(writers()) < 2 and time.monotonic() < deadline:
                sent += pool.map(ask, range(len(sent), len(sent) + 16))
                time.sleep(0.4)
            sent += pool.map(ask, range(16))  # the last ones are pending at the stop
    finally:
        stop(server, tmp_path)
    assert len(writers()) == 2, "both workers wrote parts"
    rows = read_impressions(open_log(folder))
    assert sorted(rows["request_id"]) == sorted(sent)
