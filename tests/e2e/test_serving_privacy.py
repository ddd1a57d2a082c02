"""Privacy in the running service: a raw id from the shop finds the user the model knows under
its pseudonym, and the raw id reaches none of the files or logs the service writes; a user added
to the deletion list while the service runs is forgotten within a few polls (the popular
fallback, no session, 404 on events, logged as "erased"), in the next version too."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from shoprec.features.interactions import Interactions
from shoprec.impressions import ImpressionWriter, open_log, read_impressions
from shoprec.models.itemknn import ItemKNN
from shoprec.privacy.erasures import ErasureList
from shoprec.privacy.pseudonym import KEY_ENV, Pseudonymiser
from shoprec.registry import LocalStore, Registry
from shoprec.serving.app import ServiceSettings, create_app
from shoprec.serving.reloader import ModelHolder
from tests.e2e.test_serving import NAME, Server, known_users, publish, world  # noqa: F401
from tests.e2e.test_serving_impressions import serve, stop
from tests.privacy.raw_ids import files_containing

pytestmark = pytest.mark.slow
KEY = "0123456789abcdef" * 4  # a test key, not a secret


def wait_until(condition, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_forgotten_user_gets_the_fallback_in_this_version_and_the_next(world, tmp_path):  # noqa: F811
    registry = Registry(LocalStore(tmp_path / "registry"))
    publish(registry, world["model_dir"])
    erasures = ErasureList(LocalStore(tmp_path / "erasures"))
    store = LocalStore(tmp_path / "impressions")
    holder = ModelHolder(registry, NAME, "production", world["items_path"])
    app = create_app(
        holder,
        ServiceSettings(poll_interval_s=0.3, erasures_poll_interval_s=0.2),
        impressions=ImpressionWriter(store, flush_s=0.2),
        erasures=erasures,
    )
    victim, other = known_users(world, 2)
    item = str(world["model"].history.item_ids[0])
    event = {"user_id": victim, "events": [{"item_id": item}]}
    with Server(app) as api:
        assert api.get(f"/v1/recommendations/{victim}").json()["fallback"] is False
        assert api.post("/v1/events", json=event).status_code == 202
        erasures.add(victim, "dpo", "asked to be forgotten")
        wait_until(lambda: api.get(f"/v1/recommendations/{victim}").json()["fallback"])
        after = [api.get(f"/v1/recommendations/{victim}?k=5")]
        assert after[0].json()["items"][0]["source"] == "popularity_fallback"
        assert api.post("/v1/events", json=event).status_code == 404
        assert app.state.sessions.entries(victim) == []
        others = [api.get(f"/v1/recommendations/{other}") for _ in range(3)]
        assert all(victim not in reply.text and not reply.json()["fallback"] for reply in others)

        publish(registry, world["model_dir"])  # v2: forgotten there too
        wait_until(lambda: api.get("/readyz").json()["version"] == 2)
        after.append(api.get(f"/v1/recommendations/{victim}?k=5"))
        assert (after[-1].json()["version"], after[-1].json()["fallback"]) == (2, True)
        assert api.post("/v1/events", json=event).status_code == 404
    rows = read_impressions(store).set_index("request_id")
    logged = rows.loc[[a.headers["x-request-id"] for a in after]]
    assert logged["user_id"].tolist() == ["erased", "erased"] and logged["fallback"].all()
    last_erased = rows.index.get_loc(after[0].headers["x-request-id"])
    assert victim not in set(rows["user_id"].iloc[last_erased:])


@pytest.fixture
def pseudonymised(world, tmp_path):  # noqa: F811
    """An ItemKNN model fit on the tiny shop's history with pseudonymised user ids (as ingest
    stores them), in production in a registry; ``raw`` are the shop's ids for those users."""
    pseudonym = Pseudonymiser(KEY.encode())
    history = world["model"].history
    raw = [f"customer-{u}" for u in history.user_ids]
    stored = Interactions(history.matrix, pseudonym.many(raw).astype(str), history.item_ids)
    model = ItemKNN(neighbors=50).fit(stored)
    model_dir = model.save(tmp_path / "built" / "itemknn")
    registry = Registry(LocalStore(tmp_path / "registry"))
    version = registry.register("itemknn", model_dir, "ci", {})
    registry.record_check("itemknn", version, "servability", {"passed": True, "users": 0})
    registry.decide("itemknn", version, "approved", "ci", "test")
    registry.promote("itemknn", version, "ci")
    return {
        **world,
        "name": "itemknn",
        "registry_dir": tmp_path / "registry",
        "pseudonym": pseudonym,
        "raw": raw,
        "model": model,
    }


def test_raw_ids_find_their_pseudonym_and_are_written_nowhere(pseudonymised, tmp_path):
    w = pseudonymised
    (tmp_path / "tmp").mkdir()  # the service's work folder lands here, to be searched
    env = {**os.environ, KEY_ENV: KEY, "TMPDIR": str(tmp_path / "tmp")}
    server, base = serve(
        w,
        tmp_path,
        env=env,
        serving={"impressions": "impressions", "impressions_flush_s": 0.2},
        privacy={"pseudonymise_users": True, "poll_interval_s": 0.2},
    )
    user, victim, other = w["raw"][:3]
    item = str(w["model"].history.item_ids[0])
    try:
        with httpx.Client(base_url=base, timeout=30) as api:
            body = api.get(f"/v1/recommendations/{user}?k=5").json()
            assert (body["user_id"], body["fallback"]) == (user, False)  # echoed as sent
            expected = w["model"].recommend([w["pseudonym"](user)], k=5)["item_id"].tolist()
            assert [i["item_id"] for i in body["items"]] == expected
            for who in (user, victim):
                reply = api.post("/v1/events", json={"user_id": who, "events": [{"item_id": item}]})
                assert reply.status_code == 202 and reply.json()["user_id"] == who
            assert not api.get(f"/v1/recommendations/{victim}").json()["fallback"]
            work = [f for f in (tmp_path / "tmp").rglob("*") if f.is_file()]
            assert len(work) > 3  # the downloaded version, its catalogue
            assert files_containing(tmp_path / "tmp", w["raw"]) == {}  # the work folder

            forgotten = w["pseudonym"](victim)
            ErasureList(LocalStore(tmp_path / "privacy" / "erasures")).add(forgotten, "dpo", "x")
            wait_until(lambda: api.get(f"/v1/recommendations/{victim}").json()["fallback"])
            erased_at = time.monotonic()
            after = [api.get(f"/v1/recommendations/{victim}")]
            victim_event = {"user_id": victim, "events": [{"item_id": item}]}
            assert api.post("/v1/events", json=victim_event).status_code == 404
            others = [api.get(f"/v1/recommendations/{who}") for who in (user, other) * 3]
            assert all(not r.json()["fallback"] for r in others)
            assert not any(victim in r.text or forgotten in r.text for r in others)
            assert time.monotonic() - erased_at < 10
    finally:
        output = stop(server, tmp_path)
    assert not any(raw in output for raw in w["raw"])  # the service's own output
    assert files_containing(tmp_path / "impressions", w["raw"]) == {}
    rows = read_impressions(open_log(tmp_path / "impressions")).set_index("request_id")
    assert rows.loc[after[0].headers["x-request-id"], "user_id"] == "erased"
    later = rows.loc[[r.headers["x-request-id"] for r in [*after, *others]]]
    assert forgotten not in set(later["user_id"])
    assert set(later["user_id"]) == {"erased", w["pseudonym"](user), w["pseudonym"](other)}
