"""The servability check of a proposal: a real model's files round-trip through the registry and a
fresh process."""

from __future__ import annotations

import pytest

from shoprec.registry import RegistryError
from tests.registries import registry_at


# -- servability ----------------------------------------------------------------------------
def test_servability_round_trips_a_real_model_through_a_fresh_process(registry_uri, tmp_path):
    from shoprec.data.synthetic import generate_shop
    from shoprec.features.interactions import build_interactions
    from shoprec.release.propose import check_servability
    from shoprec.training.model_table import create_model

    events, items = generate_shop(users=120, items=80, days=14, seed=1)
    history = build_interactions(events, items["item_id"], {"view": 1, "purchase": 5})
    folder = create_model("itemknn", neighbors=20).fit(history).save(tmp_path / "itemknn")
    reg = registry_at(registry_uri)
    version = reg.register("itemknn", folder, "ci")
    result = check_servability(reg, "itemknn", version, folder)
    assert result == {"passed": True, "users": 20, "k": 10}
    reg.decide("itemknn", version, "approved", "ana", "servable")
    with pytest.raises(RegistryError, match="already recorded"):
        check_servability(reg, "itemknn", version, folder)


# -- the gate's model ---------------------------------------------------------------------------
def test_a_gate_model_switched_off_says_what_to_change(tmp_path):
    from shoprec.config import Params
    from shoprec.errors import ConfigError
    from shoprec.models.base import mark_disabled
    from shoprec.release.propose import propose

    mark_disabled(tmp_path / "models/two_stage", "two_stage", "train.two_stage")
    params = Params(train={"two_stage": False}, gate={"model": "two_stage"})
    with pytest.raises(ConfigError) as caught:
        propose(tmp_path, params, registry=None, by="ci")
    message = str(caught.value)
    assert "gate.model is two_stage" in message
    assert "set train.two_stage: true" in message
    assert "most_popular, itemknn, ease, two_tower" in message
    assert "serving.model and batch_scoring.model" in message
    # switched back on but not reproduced yet: the marker is still there
    with pytest.raises(ConfigError, match="still holds the disabled marker"):
        propose(tmp_path, Params(gate={"model": "two_stage"}), registry=None, by="ci")
