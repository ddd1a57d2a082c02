"""Event sequences of the sequential model: right-aligned, ordered, windows that add up."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprec.features.event_sequences import EVENT_CODES, training_windows, user_sequences

CATALOGUE = np.array(["a", "b", "c", "d", "e"])


def _events(rows):
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "timestamp": pd.to_datetime([r[3] for r in rows], unit="m", utc=True),
        }
    )


LOG = _events(
    [
        ("u1", "c", "purchase", 3),
        ("u1", "a", "view", 1),
        ("u1", "b", "addtocart", 2),
        ("u2", "e", "view", 5),
        ("u2", "zzz", "view", 6),  # not in the catalogue: left out
        ("u1", "d", "view", 4),
    ]
)


def test_user_sequences_are_right_aligned_in_time_order():
    seq = user_sequences(LOG, np.array(["u1", "u2", "nobody"]), CATALOGUE, 3)
    np.testing.assert_array_equal(seq.items, [[1, 2, 3], [-1, -1, 4], [-1, -1, -1]])
    codes = EVENT_CODES
    assert seq.events[0].tolist() == [codes["addtocart"], codes["purchase"], codes["view"]]
    assert seq.events[2].tolist() == [0, 0, 0]


def test_training_windows_cover_the_history_from_the_end_without_one_event_windows():
    windows = training_windows(LOG, CATALOGUE, length=2)
    # u1: a b c d → windows of 3 from the end: [b c d], [a] (dropped: nothing to predict)
    # u2: e (one event, dropped)
    assert windows.user_ids.tolist() == ["u1"]
    np.testing.assert_array_equal(windows.items, [[1, 2, 3]])


def test_training_windows_keep_at_most_the_newest_windows_per_user():
    log = _events([("u", CATALOGUE[i % 5], "view", i) for i in range(12)])
    windows = training_windows(log, CATALOGUE, length=2, max_windows_per_user=2)
    assert len(windows) == 2
    # the newest window ends with the last event (i = 11 → item "b")
    newest = windows.items[np.argmax(windows.items[:, -1] == 1)]
    assert newest.tolist() == [4, 0, 1]


def test_event_types_outside_the_chosen_ones_are_left_out():
    seq = user_sequences(LOG, np.array(["u1"]), CATALOGUE, 4, event_types=["view"])
    np.testing.assert_array_equal(seq.items, [[-1, -1, 0, 3]])
