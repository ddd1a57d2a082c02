"""The sequential model served over real HTTP: a shopper's events just posted are read by the
network itself, so the next recommendations follow what they did now."""

from __future__ import annotations

import numpy as np
import pytest

from shoprec.features.event_sequences import EVENT_CODES
from shoprec.models.base import top_k
from shoprec.registry import LocalStore, Registry
from shoprec.release.propose import check_servability
from shoprec.serving.app import ServiceSettings, create_app
from shoprec.serving.reloader import ModelHolder
from shoprec.training.model_table import load_model
from tests.e2e.test_serving import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]
NAME = "sequential"


@pytest.fixture(scope="module")
def served(sequential_fit, tiny_shop, tmp_path_factory):
    root = tmp_path_factory.mktemp("serving_sequential")
    model_dir = sequential_fit[0].save(root / NAME)
    registry = Registry(LocalStore(root / "registry"))
    version = registry.register(NAME, model_dir, "ci", {})
    assert check_servability(registry, NAME, version, model_dir)["passed"] is True
    registry.decide(NAME, version, "approved", "ci", "test")
    registry.promote(NAME, version, "ci")
    items_path = root / "items.parquet"
    tiny_shop["items"].astype({"price": float}).to_parquet(items_path)
    holder = ModelHolder(registry, NAME, "production", items_path)
    with Server(create_app(holder, ServiceSettings(poll_interval_s=60.0))) as client:
        yield client, load_model(model_dir)


def test_posted_events_feed_the_sequence_the_model_reads(served):
    api, model = served
    user = str(model.history.user_ids[3])
    row = int(model.history.user_positions([user])[0])
    before = api.get(f"/v1/recommendations/{user}", params={"k": 10}).json()
    assert before["model"] == NAME and not before["fallback"]
    idx, _ = model.recommend_indices(np.array([row]), 10)
    assert [i["item_id"] for i in before["items"]] == model.history.item_ids[idx[0]].tolist()

    carted = [before["items"][0]["item_id"], before["items"][4]["item_id"]]
    reply = api.post(
        "/v1/events",
        json={
            "user_id": user,
            "events": [
                {"item_id": carted[0], "event_type": "view"},
                {"item_id": carted[1], "event_type": "addtocart"},
            ],
        },
    )
    assert reply.status_code == 202, reply.text
    after = api.get(f"/v1/recommendations/{user}", params={"k": 10}).json()["items"]

    # what the network says after the user's stored events plus these two
    positions = model.history.item_positions(carted).tolist()
    codes = [EVENT_CODES["view"], EVENT_CODES["addtocart"]]
    sequences = model.session_sequences(np.array([row]), [positions], [codes])
    scores = model.score_sequences(sequences)
    scores[0, model.history.matrix[row].indices] = -np.inf
    scores[0, positions] = -np.inf
    expected, _ = top_k(scores, 10)
    assert [i["item_id"] for i in after] == model.history.item_ids[expected[0]].tolist()
    assert not set(carted) & {i["item_id"] for i in after}
    assert [i["item_id"] for i in after] != [i["item_id"] for i in before["items"]]
    assert all(r["kind"] == "session" for i in after for r in i["reasons"])
