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
