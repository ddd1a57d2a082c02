"""Cold items keep their content source's rank in the two-stage list (cold start survives)."""

from __future__ import annotations

import numpy as np

from shoprec.ranking.candidates import CONTENT_SOURCES, SOURCES
from shoprec.ranking.two_stage import _merged_scores


def _order(scores: np.ndarray) -> list[int]:
    return np.argsort(-scores, kind="stable").tolist()


def test_pinned_items_land_at_their_rank_and_the_others_keep_the_rankers_order():
    predicted = np.array([0.9, 0.1, 0.5, -3.0, 0.7, 0.2])
    fixed = np.array([False, True, False, True, False, False])
    ranks = np.array([np.inf, 2.0, np.inf, 1.0, np.inf, np.inf])
    scores = _merged_scores(predicted, fixed, ranks)
    assert _order(scores) == [3, 1, 0, 4, 2, 5]
    np.testing.assert_array_equal(scores[~fixed], predicted[~fixed])  # others keep their scores


def test_a_pinned_rank_beyond_the_list_goes_last_and_competing_pins_keep_their_order():
    predicted = np.array([1.0, 0.0, 0.5, 0.2])
    fixed = np.array([False, True, True, False])
    ranks = np.array([np.inf, 9.0, 2.0, np.inf])
    assert _order(_merged_scores(predicted, fixed, ranks)) == [0, 2, 3, 1]
    both = _merged_scores(
        np.array([0.3, 0.1, 0.2]), np.array([True, True, False]), np.array([1.0, 1.0, np.inf])
    )
    assert _order(both) == [0, 1, 2]


def test_every_cold_item_in_the_cold_sources_top_k_is_in_the_two_stage_top_k(
    two_stage_fit,
):
    model, _ = two_stage_fit
    snap = model.sources.snapshot
    cold_items = np.flatnonzero(snap.item_users[-1] == 0)
    rows = np.arange(min(200, model.history.shape[0]))
    k = 10
    ours, _ = model.recommend_indices(rows, k)
    candidates = model.candidates(rows)
    source = model.params["cold_items_source"]
    assert source in CONTENT_SOURCES and source in model.sources.active
    checked = 0
    for r in range(len(rows)):
        mine = candidates.user == r
        ranks = candidates.source_ranks[mine][:, SOURCES.index(source)]
        wanted = candidates.item[mine][(ranks <= k) & np.isin(candidates.item[mine], cold_items)]
        assert set(wanted.tolist()) <= set(ours[r].tolist())
        checked += len(wanted)
    assert checked > 0, "the tiny shop should have cold candidates in some top-k"
