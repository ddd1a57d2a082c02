"""The reference profiles a version is registered with (``evaluation.profiles``, ``propose``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shoprec.config import Params
from shoprec.evaluation import evaluate
from shoprec.evaluation.profiles import OTHER, category_counts, data_profile, list_statistics
from shoprec.release.propose import reference_profiles
from tests.monitoring.shop import catalogue


def test_the_data_profile_counts_what_happened_and_is_plain_json(batch_shop):
    events = pd.read_parquet(batch_shop["events"])
    profile = data_profile(events, catalogue())
    assert json.loads(json.dumps(profile)) == profile
    assert profile["event_mix"] == events["event_type"].value_counts().to_dict()
    assert sum(profile["category"].values()) == len(events)
    assert set(profile["category"]) <= {f"c{i}" for i in range(5)}
    assert profile["known_items"] == events["item_id"].nunique() == len(profile["item_users"])
    assert (
        profile["item_users"]["i0000"] == events.loc[events.item_id == "i0000", "user_id"].nunique()
    )
    assert len(profile["price"]["quantiles"]) == 100 and profile["price"]["n"] == len(events)


def test_many_categories_keep_the_largest_and_sum_the_rest():
    counts = category_counts(pd.Series([f"c{i}" for i in range(60) for _ in range(i + 1)]), 50)
    assert len(counts) == 51 and counts[OTHER] == sum(range(1, 11))


def test_list_statistics_by_hand():
    item_users = {"a": 3, "b": 1}  # of 3 users
    stats = list_statistics([np.array(["a", "b"]), np.array(["a", "c"])], item_users, 3, 4)
    assert stats["popularity"] == pytest.approx((1 + 1 / 3 + 1 + 0) / 4)
    assert stats["novelty"] == pytest.approx((0 + 1 + 0 + 2) / 4)  # -log2((u + 1) / 4)
    assert stats["coverage"] == 0.5  # a and b of the 4 known items (c is not known)


def test_propose_registers_both_profiles_from_the_split(batch_shop, tmp_path):
    model = batch_shop["model"]
    (tmp_path / "data/split").mkdir(parents=True)
    (tmp_path / "data/validated").mkdir(parents=True)
    pd.read_parquet(batch_shop["events"]).to_parquet(tmp_path / "data/split/train.parquet")
    catalogue().to_parquet(tmp_path / "data/validated/items.parquet")
    targets = evaluate.TestTargets(user_rows=np.arange(50), targets=None)
    profiles = reference_profiles(tmp_path, Params(), model, targets)
    served = profiles["served_profile"]
    assert (served["users"], served["lists"], served["k"]) == (50, 50, 10)
    assert set(served["coverage_curve"]) == {"10", "30"}
    assert profiles["data_profile"]["category"]  # the catalogue was read
    assert reference_profiles(tmp_path / "nothing", Params(), model, targets) == {}
