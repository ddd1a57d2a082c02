"""The feature snapshot at a cut-off (one, or one per user): no event at or after the cut is
counted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprec.ranking.snapshot import build_snapshot
from tests.tiny import (
    WEIGHTS,
    assert_same_snapshot,
    make_leave_last_out_shop,
)


# -- leakage ---------------------------------------------------------------------------------
def test_a_snapshot_ignores_every_event_at_or_after_its_cut(tiny_shop):
    h = tiny_shop["holdout"]
    before = tiny_shop["events"][tiny_shop["events"]["timestamp"] < tiny_shop["t1"]]
    args = (tiny_shop["items"], h.before_validation, tiny_shop["t1"], WEIGHTS, [1, 7, 30], 7.0)
    clean = build_snapshot(before, *args)
    everything = build_snapshot(tiny_shop["events"], *args)
    assert_same_snapshot(clean, everything)
    assert clean.cut == tiny_shop["t1"]
    assert np.nanmin(clean.item_first_days) > 0  # every counted event is strictly earlier


def test_one_cut_per_user_that_is_the_same_for_all_is_the_single_cut(tiny_shop):
    h = tiny_shop["holdout"]
    history, t1 = h.before_validation, tiny_shop["t1"]
    args = (WEIGHTS, [1, 7, 30], 7.0)
    single = build_snapshot(tiny_shop["events"], tiny_shop["items"], history, t1, *args)
    per_user = pd.DatetimeIndex([t1] * history.shape[0])
    many = build_snapshot(tiny_shop["events"], tiny_shop["items"], history, per_user, *args)
    assert_same_snapshot(single, many)


def test_per_user_cuts_count_each_users_events_before_their_own_cut():
    shop = make_leave_last_out_shop()
    h = shop["holdout"]
    history, cuts = h.before_validation, h.cuts
    at = cuts.validation_at(history.user_ids)
    args = (shop["items"], history, at, WEIGHTS, [1, 7, 30], 7.0)
    clean = build_snapshot(h.split.train, *args)
    # every later event (validation and test periods included) is dropped, user by user
    assert_same_snapshot(clean, build_snapshot(shop["events"], *args))
    assert clean.cut == cuts.latest_validation
    # a user's recency is taken from the user's own cut, an item's from the latest cut
    train = h.split.train
    day = pd.Timedelta(days=1)
    for user in cuts.users.index[:5]:
        row = history.user_positions([user])[0]
        last = train.loc[train["user_id"] == user, "timestamp"].max()
        own = cuts.validation_at([user])[0]
        assert clean.user_last_days[row] == np.float32((own - last) / day)
    item = train["item_id"].iloc[0]
    col = history.item_positions([item])[0]
    last = train.loc[train["item_id"] == item, "timestamp"].max()
    assert clean.item_last_days[col] == np.float32((cuts.latest_validation - last) / day)
