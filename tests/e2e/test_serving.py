"""The recommendation service over real HTTP: uvicorn on a free port, a registry on disk, a real
two-stage model (the session's tiny fit) that passed the registry's servability check; reload
and refusal happen while requests are flowing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import uvicorn

from shoprec.registry import LocalStore, Registry
from shoprec.release.propose import check_servability
from shoprec.serving.app import ServiceSettings, create_app
from shoprec.serving.reloader import ModelHolder
from shoprec.training.model_table import load_model
from tests.conftest import free_port
from tests.projects import REPO_ROOT

NAME = "two_stage"


def publish(registry: Registry, model_dir: Path, by: str = "ci") -> int:
    """Register, check servability for real (fetched, loaded in a fresh process, the same
    rankings as before upload), approve and promote a model folder; the new version."""
    version = registry.register(NAME, model_dir, by, {})
    assert check_servability(registry, NAME, version, model_dir)["passed"] is True
    registry.decide(NAME, version, "approved", by, "test")
    registry.promote(NAME, version, by)
    return version


@pytest.fixture(scope="module")
def world(two_stage_fit, tiny_shop, tmp_path_factory):
    """A registry with v1 in production and an items table with one product the model never
    saw (a new arrival that looks like an existing item)."""
    root = tmp_path_factory.mktemp("serving")
    model_dir = two_stage_fit[0].save(root / NAME)
    registry = Registry(LocalStore(root / "registry"))
    publish(registry, model_dir)
    items = tiny_shop["items"].copy()
    template = items.iloc[0].copy()
    template["item_id"] = "new-arrival"
    items = pd.concat([items, template.to_frame().T], ignore_index=True)
    items_path = root / "items.parquet"
    items.astype({"price": float}).to_parquet(items_path)
    return {
        "registry": registry,
        "model_dir": model_dir,
        "items_path": items_path,
        "items": items,
        "model": load_model(model_dir),
        "lookalike": str(template["title"]),
    }


class Server:
    """uvicorn in a thread, on a free loopback port."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def service(world, poll_interval_s: float = 60.0) -> Server:
    holder = ModelHolder(world["registry"], NAME, "production", world["items_path"])
    return Server(create_app(holder, ServiceSettings(poll_interval_s=poll_interval_s)))


@pytest.fixture(scope="module")
def api(world):
    with service(world) as client:
        yield client


def known_users(world, n: int = 3) -> list[str]:
    return [str(u) for u in world["model"].history.user_ids[:n]]


def test_recommendations_for_a_known_user_have_details_and_reasons(api, world):
    user = known_users(world)[0]
    reply = api.get(f"/v1/recommendations/{user}", params={"k": 7})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["model"], body["version"], body["fallback"]) == (NAME, 1, False)
    items = body["items"]
    assert [i["rank"] for i in items] == list(range(1, 8))
    expected = world["model"].recommend_with_reasons([user], k=7)
    assert [i["item_id"] for i in items] == expected["item_id"].tolist()
    catalogue = world["items"].set_index("item_id")
    for item in items:
        assert item["title"] == catalogue.loc[item["item_id"], "title"]
        assert item["price"] == pytest.approx(float(catalogue.loc[item["item_id"], "price"]))
    assert any(i["reasons"] for i in items)
    history = world["model"].history
    seen = set(history.item_ids[history.matrix[history.user_positions([user])[0]].indices])
    assert not seen & {i["item_id"] for i in items}


def test_an_unknown_user_gets_popular_items_marked_as_fallback(api, world):
    body = api.get("/v1/recommendations/someone-new", params={"k": 5}).json()
    assert body["fallback"] is True and len(body["items"]) == 5
    counts = world["model"].history.item_user_counts()
    ranked = world["model"].history.item_ids[counts.argsort(kind="stable")[::-1]]
    assert body["items"][0]["item_id"] in set(ranked[:5])
    assert all(i["source"] == "popularity_fallback" for i in body["items"])


def test_a_category_filter_keeps_only_that_category(api, world):
    user = known_users(world)[1]
    category = str(world["items"]["category"].iloc[0]).split("/")[0]
    body = api.get(f"/v1/recommendations/{user}", params={"k": 5, "category": category}).json()
    assert len(body["items"]) == 5
    assert all(i["category"].split("/")[0] == category for i in body["items"])


def test_similar_items_from_interactions_from_content_and_unknown(api, world):
    model = world["model"]
    known = str(model.history.item_ids[model.history.item_user_counts().argmax()])
    body = api.get(f"/v1/similar/{known}", params={"k": 4}).json()
    assert body["basis"] == "interactions" and len(body["items"]) == 4
    assert known not in {i["item_id"] for i in body["items"]}

    new = api.get("/v1/similar/new-arrival", params={"k": 3}).json()
    assert new["basis"] == "content" and len(new["items"]) == 3
    # the item it was copied from has the same title, category and brand: it comes first
    assert new["items"][0]["title"] == world["lookalike"]

    missing = api.get("/v1/similar/not-a-product")
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown item"


def test_session_events_change_the_next_recommendations(api, world):
    user = known_users(world)[2]
    before = api.get(f"/v1/recommendations/{user}", params={"k": 10}).json()["items"]
    viewed = [before[0]["item_id"], before[1]["item_id"]]
    reply = api.post(
        "/v1/events",
        json={"user_id": user, "events": [{"item_id": i, "event_type": "view"} for i in viewed]},
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["session_events"] == 2
    after = api.get(f"/v1/recommendations/{user}", params={"k": 10}).json()["items"]
    assert not set(viewed) & {i["item_id"] for i in after}  # just seen: not offered again
    session_reasons = [r for i in after for r in i["reasons"] if r["kind"] == "session"]
    assert session_reasons and {r["seed_item"] for r in session_reasons} <= set(viewed)

    assert (
        api.post(
            "/v1/events", json={"user_id": "nobody", "events": [{"item_id": viewed[0]}]}
        ).status_code
        == 404
    )
    bad_item = api.post("/v1/events", json={"user_id": user, "events": [{"item_id": "nope"}]})
    assert bad_item.status_code == 422 and bad_item.json()["detail"] == ["nope"]
    too_many = {"user_id": user, "events": [{"item_id": viewed[0]}] * 101}
    assert api.post("/v1/events", json=too_many).status_code == 422


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/recommendations/u?k=0", "k"),
        ("/v1/recommendations/u?k=1000", "k"),
        ("/v1/recommendations/u?k=ten", "k"),
        ("/v1/recommendations/u?exclude_seen=maybe", "exclude_seen"),
        ("/v1/recommendations/" + "x" * 5000, "user_id"),
        ("/v1/recommendations/u?category=" + "c" * 1000, "category"),
        ("/v1/similar/i1?k=-3", "k"),
    ],
)
def test_bad_input_is_a_clear_4xx_never_a_500(api, path, field):
    reply = api.get(path)
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "invalid request"
    assert any(d["field"] == field for d in body["detail"]), body


def test_bad_event_bodies_are_4xx(api):
    for body in ({}, {"user_id": "u"}, {"user_id": "u", "events": []}, {"events": [{}]}):
        assert api.post("/v1/events", json=body).status_code == 422
    assert api.post("/v1/events", content=b"{not json").status_code == 422
    assert api.get("/v1/nothing-here").status_code == 404


def test_health_readiness_metrics_and_docs(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready", "model": NAME, "version": 1}
    assert api.get("/openapi.json").status_code == 200
    assert api.get("/docs").status_code == 200
    api.get("/v1/recommendations/u?k=0")
    text = api.get("/metrics").text
    assert 'shoprec_model_version{model="two_stage"} 1.0' in text
    assert "shoprec_request_duration_seconds_bucket" in text
    assert 'shoprec_requests_total{endpoint="/v1/recommendations/{user_id}",status="422"}' in text
    assert "shoprec_model_reload_failures_total 0.0" in text
    assert 'status="500"' not in text


def test_not_ready_without_a_production_model(tmp_path, world):
    holder = ModelHolder(Registry(LocalStore(tmp_path / "empty")), NAME, "production", None)
    app = create_app(holder, ServiceSettings(poll_interval_s=60))
    with Server(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "no production alias" in ready.json()["detail"]
        assert client.get("/v1/recommendations/u").status_code == 503


def test_reload_mid_traffic_fails_no_request_and_a_corrupt_version_is_refused(world, tmp_path):
    registry = Registry(LocalStore(tmp_path / "registry"))
    publish(registry, world["model_dir"])
    world = {**world, "registry": registry}
    users = [*known_users(world, 5), "someone-new"]
    statuses: list[int] = []
    versions: set[int] = set()
    stop = threading.Event()

    with service(world, poll_interval_s=0.2) as client:

        def traffic() -> None:
            with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
                n = 0
                while not stop.is_set():
                    reply = own.get(f"/v1/recommendations/{users[n % len(users)]}?k=5")
                    statuses.append(reply.status_code)
                    if reply.status_code == 200:
                        versions.add(reply.json()["version"])
                    n += 1

        def wait_for(predicate, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while not predicate():
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.1)

        loader = threading.Thread(target=traffic)
        loader.start()
        wait_for(lambda: len(statuses) > 20)
        assert publish(registry, world["model_dir"]) == 2
        wait_for(lambda: client.get("/readyz").json()["version"] == 2)
        count_at_swap = len(statuses)
        wait_for(lambda: len(statuses) > count_at_swap + 20)

        # v3: one of its files is changed in the registry after upload (its check is recorded
        # by hand: v1 and v2 show the real one)
        v3 = registry.register(NAME, world["model_dir"], "ci", {})
        registry.record_check(NAME, v3, "servability", {"passed": True, "users": 0})
        registry.store.put(f"{NAME}/versions/{v3}/files/model.json", b'{"model": "evil"}')
        registry.decide(NAME, v3, "approved", "ci", "test")
        registry.promote(NAME, v3, "ci")
        wait_for(lambda: "shoprec_model_reload_failures_total 1.0" in client.get("/metrics").text)
        count_at_refusal = len(statuses)
        wait_for(lambda: len(statuses) > count_at_refusal + 20)
        stop.set()
        loader.join(timeout=60)
        ready = client.get("/readyz").json()
        metrics = client.get("/metrics").text

    assert set(statuses) == {200}, f"failed requests: {[s for s in statuses if s != 200][:5]}"
    assert versions == {1, 2}
    assert ready["version"] == 2  # the corrupt v3 never replaced it
    assert "shoprec_model_reloads_total 2.0" in metrics  # v1 at start-up, then v2
    assert len(statuses) > 60


def test_the_cli_serves_the_production_model(world, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO_ROOT / "params.yaml", project)
    port = free_port()
    where = ["--registry", world["registry"].store.location, "--items", str(world["items_path"])]
    proc = subprocess.Popen(
        [sys.executable, "-m", "shoprec", "serve", "--port", str(port), *where],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.3)
        assert ready.json()["model"] == NAME
        body = httpx.get(f"http://127.0.0.1:{port}/v1/recommendations/someone?k=2").json()
        assert body["fallback"] is True and len(body["items"]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
