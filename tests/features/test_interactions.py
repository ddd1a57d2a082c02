"""Interaction matrices: exact weights and transforms, catalogue columns, persistence, and
no leakage of test-period events into what models are fit on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from shoprec.data.split import leave_last_out_split, temporal_split
from shoprec.errors import DataError
from shoprec.features.interactions import Interactions, build_interactions

WEIGHTS = {"view": 1.0, "addtocart": 3.0, "purchase": 5.0}


def make_events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601").astype(
        "datetime64[us, UTC]"
    )
    return frame


def cell(interactions: Interactions, user: str, item: str) -> float:
    row = interactions.user_positions([user])[0]
    col = interactions.item_positions([item])[0]
    assert row >= 0 and col >= 0
    return float(interactions.matrix[row, col])


SMALL_LOG = make_events(
    [
        ("u1", "a", "view", "2024-01-01"),
        ("u1", "a", "view", "2024-01-02"),
        ("u1", "a", "purchase", "2024-01-03"),  # u1,a: 1 + 1 + 5 = 7
        ("u1", "b", "addtocart", "2024-01-03"),  # u1,b: 3
        ("u2", "b", "view", "2024-01-04"),  # u2,b: 1
        ("u2", "c", "wishlist", "2024-01-04"),  # no weight: ignored
        ("u3", "c", "wishlist", "2024-01-05"),  # u3 only has ignored events
    ]
)


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        ("sum", {("u1", "a"): 7.0, ("u1", "b"): 3.0, ("u2", "b"): 1.0}),
        ("log1p", {("u1", "a"): np.log1p(7.0), ("u1", "b"): np.log1p(3.0), ("u2", "b"): np.log(2)}),
        ("binary", {("u1", "a"): 1.0, ("u1", "b"): 1.0, ("u2", "b"): 1.0}),
    ],
)
def test_build_interactions_sums_weights_and_transforms(transform, expected):
    result = build_interactions(SMALL_LOG, ["a", "b", "c", "d"], WEIGHTS, transform)
    assert result.matrix.dtype == np.float32
    assert result.matrix.nnz == len(expected)  # nothing for c (unweighted) or d (no events)
    for (user, item), value in expected.items():
        assert cell(result, user, item) == pytest.approx(value, rel=1e-6)
    assert float(result.matrix.sum()) == pytest.approx(sum(expected.values()), rel=1e-6)


def test_build_interactions_ids_and_empty_columns():
    result = build_interactions(SMALL_LOG, ["d", "a", "b", "c", "a"], WEIGHTS, "sum")
    # catalogue order is kept (duplicates dropped); users are sorted
    assert result.item_ids.tolist() == ["d", "a", "b", "c"]
    assert result.user_ids.tolist() == ["u1", "u2", "u3"]
    assert result.shape == (3, 4)
    per_item = np.diff(result.matrix.tocsc().indptr)
    assert per_item.tolist() == [0, 1, 2, 0]  # d: never seen; c: only unweighted events
    np.testing.assert_array_equal(result.item_user_counts(), per_item)
    assert result.matrix[result.user_positions(["u3"])[0]].nnz == 0


def test_unknown_event_weights_add_nothing():
    only_views = build_interactions(SMALL_LOG, ["a", "b", "c"], {"view": 2.0}, "sum")
    assert cell(only_views, "u1", "a") == 4.0
    assert cell(only_views, "u2", "b") == 2.0
    assert only_views.matrix.nnz == 2  # the purchase and add-to-cart of u1 count for nothing


def test_items_missing_from_catalogue_are_appended():
    result = build_interactions(SMALL_LOG, ["b"], WEIGHTS, "sum")
    assert result.item_ids.tolist() == ["b", "a", "c"]
    assert cell(result, "u1", "a") == 7.0
    total = SMALL_LOG["event_type"].map(WEIGHTS).fillna(0).sum()
    assert float(result.matrix.sum()) == pytest.approx(total)


def test_interactions_save_load_round_trip(tmp_path: Path):
    original = build_interactions(SMALL_LOG, ["a", "b", "c", "d"], WEIGHTS, "log1p")
    original.save(tmp_path / "features")
    loaded = Interactions.load(tmp_path / "features")
    assert loaded.matrix.dtype == np.float32
    np.testing.assert_array_equal(loaded.matrix.toarray(), original.matrix.toarray())
    np.testing.assert_array_equal(loaded.user_ids, original.user_ids)
    np.testing.assert_array_equal(loaded.item_ids, original.item_ids)
    with np.load(tmp_path / "features" / "ids.npz", allow_pickle=False) as ids:
        assert ids["item_ids"].dtype.kind == "U"
    with pytest.raises(DataError, match="missing"):
        Interactions.load(tmp_path / "nothing-here")


def test_positions_are_minus_one_for_unknown_ids():
    result = build_interactions(SMALL_LOG, ["a", "b", "c", "d"], WEIGHTS, "sum")
    assert result.user_positions(["u2", "ghost", "u1"]).tolist() == [1, -1, 0]
    assert result.item_positions(["d", "zzz", "b"]).tolist() == [3, -1, 1]
    assert result.user_positions(np.array([], dtype=str)).tolist() == []


# -- leakage -------------------------------------------------------------------------------------
def several_weeks_log(seed: int = 0) -> pd.DataFrame:
    """Five weeks of events; the pair (leaker, secret) only occurs in the last days."""
    rng = np.random.default_rng(seed)
    n = 600
    start = pd.Timestamp("2024-02-01", tz="UTC")
    seconds = rng.integers(0, 35 * 86400, size=n)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, 25, size=n)],
            "item_id": [f"i{i}" for i in rng.integers(0, 30, size=n)],
            "event_type": rng.choice(
                ["view", "addtocart", "purchase"], size=n, p=[0.6, 0.25, 0.15]
            ),
            "timestamp": start + pd.to_timedelta(seconds, unit="s"),
        }
    )
    late = make_events(
        [
            ("leaker", "i0", "view", "2024-02-02"),  # the user exists before the test period
            ("leaker", "secret", "purchase", "2024-03-06 12:00"),
            ("leaker", "secret", "view", "2024-03-06 12:05"),
        ]
    )
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
    return pd.concat([frame, late], ignore_index=True)


def test_temporal_features_do_not_see_the_test_period():
    events = several_weeks_log()
    catalogue = [f"i{i}" for i in range(30)] + ["secret"]
    split = temporal_split(events, test_days=7, validation_days=7)
    test_start = pd.Timestamp(split.info["test_start"])
    assert (split.test["item_id"] == "secret").sum() == 2
    before_test = pd.concat([split.train, split.validation], ignore_index=True)
    features = build_interactions(before_test, catalogue, WEIGHTS, "sum")

    row = features.user_positions(["leaker"])[0]
    col = features.item_positions(["secret"])[0]
    assert row >= 0 and col >= 0  # the user and the catalogue item both exist ...
    assert features.matrix[row, col] == 0  # ... but their test-period pair does not
    assert features.matrix[:, col].nnz == 0

    reference = build_interactions(
        events[events["timestamp"] < test_start], catalogue, WEIGHTS, "sum"
    )
    np.testing.assert_array_equal(features.user_ids, reference.user_ids)
    np.testing.assert_array_equal(features.item_ids, reference.item_ids)
    assert (features.matrix != reference.matrix).nnz == 0
    pre_test_weight = events.loc[events["timestamp"] < test_start, "event_type"].map(WEIGHTS).sum()
    all_weight = events["event_type"].map(WEIGHTS).sum()
    assert float(features.matrix.sum()) == pytest.approx(pre_test_weight, rel=1e-6)
    assert pre_test_weight < all_weight


def test_leave_last_out_features_do_not_see_the_held_out_item():
    events = make_events(
        [
            ("a", "x", "purchase", "2024-01-01"),
            ("a", "y", "purchase", "2024-01-02"),
            ("a", "z", "purchase", "2024-01-03"),
            ("a", "last", "purchase", "2024-01-04"),  # held out, never seen before
            ("b", "x", "view", "2024-01-01"),
            ("b", "again", "purchase", "2024-01-02"),  # also seen earlier by b
            ("b", "y", "purchase", "2024-01-03"),
            ("b", "z", "purchase", "2024-01-04"),
            ("b", "again", "purchase", "2024-01-05"),  # held out, but interacted with before
        ]
    )
    split = leave_last_out_split(events, ["purchase"], min_holdout_events=3)
    assert sorted(split.test["item_id"]) == ["again", "last"]
    before_test = pd.concat([split.train, split.validation], ignore_index=True)
    features = build_interactions(before_test, ["x", "y", "z", "last", "again"], WEIGHTS, "sum")
    assert cell(features, "a", "last") == 0.0
    assert features.matrix[:, features.item_positions(["last"])[0]].nnz == 0
    assert cell(features, "b", "again") == 5.0  # only the earlier purchase, not the held-out one
    assert cell(features, "a", "z") == 5.0  # the validation event is part of before_test
    assert float(features.matrix.sum()) == pytest.approx(5.0 * 6 + 1.0)
    train_only = build_interactions(split.train, ["x", "y", "z", "last", "again"], WEIGHTS, "sum")
    assert cell(train_only, "a", "z") == 0.0
    assert sp.issparse(train_only.matrix)
