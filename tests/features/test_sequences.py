"""Two-tower inputs: user states see only earlier events; item content follows the catalogue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoprec.features.sequences import (
    BEHAVIOUR_FEATURES,
    item_features,
    training_examples,
    user_states,
)

CATALOGUE = np.array(["a", "b", "c", "d"])
WEIGHTS = {"view": 1.0, "addtocart": 3.0, "purchase": 5.0}


def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u1"],
            "item_id": ["a", "b", "c", "a", "d"],
            "event_type": ["view", "view", "purchase", "addtocart", "view"],
            "timestamp": pd.to_datetime(
                ["2026-01-01", "2026-01-02", "2026-01-04", "2026-01-03", "2026-01-10"], utc=True
            ),
            "price": [10.0, 20.0, 30.0, 10.0, 5.0],
        }
    )


def test_training_examples_see_only_strictly_earlier_events():
    users, positives, weights = training_examples(events(), CATALOGUE, WEIGHTS, history_length=3)
    assert users.history.shape == (5, 3)
    assert users.behaviour.shape == (5, len(BEHAVIOUR_FEATURES))
    u1 = users.user_ids == "u1"
    # u1's events in time order: a, b, c, d: each example's history is the items before it
    assert positives[u1].tolist() == [0, 1, 2, 3]
    assert users.history[u1].tolist() == [[-1, -1, -1], [0, -1, -1], [1, 0, -1], [2, 1, 0]]
    assert weights[u1].tolist() == [1.0, 1.0, 5.0, 1.0]
    # counts before the event: the purchase example has seen two views and no purchase
    views, _carts, purchases = (BEHAVIOUR_FEATURES.index(f"log_{t}_count") for t in WEIGHTS)
    row = np.flatnonzero(u1)[2]
    assert users.behaviour[row, views] == np.float32(np.log1p(2))
    assert users.behaviour[row, purchases] == 0.0


def test_user_states_at_a_cut_off_ignore_later_events():
    at = pd.Timestamp("2026-01-05", tz="UTC")
    states = user_states(events(), np.array(["u2", "u1", "u3"]), at, CATALOGUE, history_length=3)
    assert states.user_ids.tolist() == ["u2", "u1", "u3"]
    # u1's view of d on 2026-01-10 is after the cut-off and must not appear
    assert states.history.tolist() == [[0, -1, -1], [2, 1, 0], [-1, -1, -1]]
    assert states.behaviour[2].tolist() == [0.0] * len(BEHAVIOUR_FEATURES)
    assert np.isfinite(states.behaviour).all()


def test_item_features_follow_the_catalogue_order_and_fill_unknowns():
    items = pd.DataFrame(
        {
            "item_id": ["b", "a", "c"],
            "title": ["Blue Mug", "Red Mug", "Tea"],
            "category": ["Home/Kitchen", "Home/Kitchen", "Grocery/Tea"],
            "brand": ["X", "Y", "Z"],
            "price": [5.0, 50.0, 500.0],
        }
    )
    features = item_features(items, CATALOGUE, n_price_buckets=4)
    assert features.item_ids.tolist() == ["a", "b", "c", "d"]
    assert features.title.tolist() == ["Red Mug", "Blue Mug", "Tea", ""]
    assert features.top_category.tolist() == ["Home", "Home", "Grocery", "unknown"]
    assert features.brand[3] == "unknown"
    assert features.price_bucket[1] < features.price_bucket[0] < features.price_bucket[2]


def test_user_states_take_one_cut_off_per_user():
    users = np.array(["u2", "u1", "u3"])
    at = pd.Timestamp("2026-01-05", tz="UTC")
    one = user_states(events(), users, at, CATALOGUE, history_length=3)
    same = user_states(events(), users, pd.DatetimeIndex([at] * 3), CATALOGUE, history_length=3)
    np.testing.assert_array_equal(same.history, one.history)
    np.testing.assert_array_equal(same.behaviour, one.behaviour)
    # u1 at 2026-01-03 sees only a and b; each user's state is its state at its own moment
    own = pd.DatetimeIndex(["2026-01-05", "2026-01-03", "2026-01-20"], tz="UTC")
    states = user_states(events(), users, own, CATALOGUE, history_length=3)
    assert states.history.tolist() == [[0, -1, -1], [1, 0, -1], [-1, -1, -1]]
    for row, (user, moment) in enumerate(zip(users, own, strict=True)):
        alone = user_states(events(), np.array([user]), moment, CATALOGUE, history_length=3)
        np.testing.assert_array_equal(states.history[row], alone.history[0])
        np.testing.assert_array_equal(states.behaviour[row], alone.behaviour[0])


def test_per_user_cut_offs_must_match_the_users():
    at = pd.DatetimeIndex(["2026-01-05", "2026-01-03"], tz="UTC")
    with pytest.raises(ValueError, match="2 cut times for 3 users"):
        user_states(events(), np.array(["u1", "u2", "u3"]), at, CATALOGUE)
    with pytest.raises(ValueError, match="distinct"):
        user_states(events(), np.array(["u1", "u1"]), at, CATALOGUE)
