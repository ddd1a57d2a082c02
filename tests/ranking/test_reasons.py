"""Reasons: they name real features and the user's own seed items."""

from __future__ import annotations

import pytest

from shoprec.errors import DataError


def test_reasons_name_real_features_and_the_users_own_seed_items(two_stage_fit, tiny_shop):
    model, _ = two_stage_fit
    users = model.history.user_ids[tiny_shop["holdout"].targets.user_rows[:25]]
    table = model.recommend_with_reasons(users, k=10)
    names = set(model.names)
    assert len(table) == 25 * 10
    with_reasons = table[table["source"] == "candidates"]
    assert len(with_reasons) > 0
    assert all(1 <= len(r) <= 3 for r in with_reasons["reasons"])
    seeds = 0
    for row in with_reasons.itertuples():
        history = model.history.matrix[model.history.user_positions([row.user_id])[0]]
        own_items = set(model.history.item_ids[history.indices].tolist())
        for reason in row.reasons:
            assert reason["text"] and reason["contribution"] > 0
            assert set(reason["features"]) <= names
            if "seed_item" in reason:
                seeds += 1
                assert reason["seed_item"] in own_items
                assert reason["seed_item"] != row.item_id
    assert seeds > 0
    with pytest.raises(DataError, match="unknown user"):
        model.recommend_with_reasons(["nobody"], k=5)
