"""The feature snapshot at a cut-off: no event at or after the cut is counted."""

from __future__ import annotations

import numpy as np

from shoprec.ranking.snapshot import build_snapshot
from tests.tiny import (
    WEIGHTS,
    assert_same_snapshot,
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
