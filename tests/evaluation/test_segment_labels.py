"""Segments on a hand-made log with known answers: history-length bins, new vs returning users,
head / tail / new items, and the metrics per segment (evaluation.segments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from shoprec.config import SegmentParams
from shoprec.data.split import Cuts
from shoprec.evaluation.evaluate import TestTargets as Targets
from shoprec.evaluation.evaluate import evaluate_ranking
from shoprec.evaluation.segments import (
    SegmentLabels,
    history_bins,
    segment_labels,
    segment_metrics,
    weakest_segment,
)
from shoprec.features.interactions import build_interactions

T1 = pd.Timestamp("2026-01-15", tz="UTC")  # validation cut
T2 = pd.Timestamp("2026-01-22", tz="UTC")  # test cut
# user: (events before the test cut, day of the first one); items i0..i5
USERS = {"a": (1, 16), "b": (2, 2), "c": (3, 3), "d": (9, 17), "e": (10, 1), "f": (12, 4)}


def hand_made_log() -> pd.DataFrame:
    rows = []
    for user, (n, first_day) in USERS.items():
        for j in range(n):
            # every user views i0; then items by a fixed pattern, so popularity is known
            item = "i0" if j == 0 else f"i{1 + (j % 2)}" if user in "ef" else "i3"
            day = min(first_day + j, 21)
            rows.append((user, item, pd.Timestamp(f"2026-01-{day:02d} 10:00", tz="UTC")))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(event_type="view")


def test_bin_names_follow_the_edges():
    assert history_bins([3, 10]) == ["1-2", "3-9", "10+"]
    assert history_bins([2]) == ["1", "2+"]
    assert history_bins([2, 3, 5]) == ["1", "2", "3-4", "5+"]


@pytest.mark.parametrize("edges", [[10, 3], [3, 3], [1, 5]])
def test_edges_must_rise_and_start_at_two(edges):
    with pytest.raises(ValidationError, match="history_edges"):
        SegmentParams(history_edges=edges)


def labels_of_the_log():
    events = hand_made_log()
    catalogue = ["i0", "i1", "i2", "i3", "i4", "i5"]
    history = build_interactions(events, catalogue, {"view": 1.0})
    rows = history.user_positions(np.array(list(USERS)))
    labels = segment_labels(
        events, Cuts.global_cuts(T1, T2), history, rows, SegmentParams(head_items=0.25)
    )
    return labels, history, rows


def users_in(labels: SegmentLabels, segment: str) -> list[str]:
    return [u for u, inside in zip(USERS, labels.users[segment], strict=True) if inside]


def test_users_by_history_length_and_arrival():
    labels, _, _ = labels_of_the_log()
    assert users_in(labels, "history:1-2") == ["a", "b"]
    assert users_in(labels, "history:3-9") == ["c", "d"]
    assert users_in(labels, "history:10+") == ["e", "f"]
    # a and d first came after the validation cut (day 16, 17): all their history is validation
    assert users_in(labels, "arrival:new") == ["a", "d"]
    assert users_in(labels, "arrival:returning") == ["b", "c", "e", "f"]


def test_items_by_popularity_head_tail_and_new():
    labels, history, _ = labels_of_the_log()
    ids = list(history.item_ids)
    # distinct users: i0 6, i3 3 (b, c, d), i1 2, i2 2 (e, f); i4 and i5 none
    # 4 items with history, head_items 0.25 -> 1 head item
    items = {name: sorted(np.asarray(ids)[mask]) for name, mask in labels.items.items()}
    assert items == {"head": ["i0"], "tail": ["i1", "i2", "i3"], "new": ["i4", "i5"]}
    assert labels.info["head_min_users"] == 6


def test_metrics_per_segment_by_hand():
    # 3 users, 4 items; top-2 lists; targets: u0 {1, 3}, u1 {2}, u2 {3}
    recommended = np.array([[1, 0], [0, 1], [3, 2]])
    targets = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32))
    labels = SegmentLabels(
        users={"x": np.array([True, True, False]), "y": np.array([False, False, True])},
        items={"three": np.array([False, False, False, True]), "none": np.zeros(4, bool)},
    )
    per_user = {"recall@2": np.array([0.5, 0.0, 1.0]), "hitrate@2": np.array([1.0, 0.0, 1.0])}
    out = segment_metrics(recommended, targets, per_user, labels, [2])
    assert out["users"]["x"]["users"] == 2 and out["users"]["x"]["recall@2"] == 0.25
    assert out["users"]["y"]["recall@2"] == 1.0
    assert out["users"]["x"]["coverage@2"] == 0.5  # items 0 and 1 of 4
    # item 3 is a target of u0 (not in u0's top 2) and u2 (first): recall 0 and 1
    three = out["items"]["three"]
    assert (three["users"], three["targets"]) == (2, 2)
    assert three["recall@2"] == 0.5 and three["hitrate@2"] == 0.5
    assert three["ndcg@2"] == 0.5  # u2: hit at rank 1 -> 1.0; u0: 0
    assert out["items"]["none"] == {"users": 0, "targets": 0}


def test_user_segments_add_up_to_the_overall_numbers():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    dense = (rng.random((n_users, n_items)) < 0.1).astype(np.float32)
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1.0
    targets = Targets(user_rows=np.arange(n_users), targets=sp.csr_matrix(dense))
    recommended = np.argsort(-rng.random((n_users, n_items)), axis=1)[:, :10]
    short = rng.random(n_users) < 0.4
    labels = SegmentLabels(
        users={"short": short, "long": ~short}, items={"all": np.ones(n_items, bool)}
    )
    result = evaluate_ranking(
        recommended,
        targets,
        [5, 10],
        np.ones(n_items),
        n_users,
        bootstrap_samples=10,
        segments=labels,
    )
    seg = result.segments["users"]
    assert seg["short"]["users"] + seg["long"]["users"] == n_users
    for metric in ("ndcg@10", "recall@5", "hitrate@10"):
        weighted = (
            seg["short"][metric] * seg["short"]["users"]
            + seg["long"][metric] * seg["long"]["users"]
        ) / n_users
        assert weighted == pytest.approx(result.values[metric], abs=1e-5), metric
    # an item segment holding every item is the overall evaluation
    assert result.segments["items"]["all"]["recall@10"] == pytest.approx(
        result.values["recall@10"], abs=1e-6
    )


def test_the_weakest_segment_is_the_lowest_difference_among_large_enough_ones():
    ours = {"users": {"s": {"users": 30, "m": 0.2}, "t": {"users": 3, "m": 0.0}}, "items": {}}
    theirs = {"users": {"s": {"users": 30, "m": 0.25}, "t": {"users": 3, "m": 0.9}}, "items": {}}
    worst = weakest_segment(ours, theirs, "m", min_users=10)
    assert worst["segment"] == "user s" and worst["difference"] == pytest.approx(-0.05)
    assert weakest_segment(ours, theirs, "m", min_users=100) is None
