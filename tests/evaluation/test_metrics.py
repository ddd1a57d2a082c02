"""Ranking metrics (precision, recall, NDCG, hit rate, MAP, MRR), coverage and novelty:
hand-computed cases and a loop reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from shoprec.evaluation import metrics as metrics_module
from shoprec.evaluation.metrics import (
    coverage,
    hits_matrix,
    novelty,
    relevant_counts,
    user_metrics,
)
from tests.evaluation.cases import random_case, targets_from_sets

METRICS = ("precision", "recall", "ndcg", "hitrate", "map", "mrr")


# --------------------------------------------------------------------------------------
# Hand-computed example: 3 users, 6 items, k_max = 5.
#
#   user 0: ranking [0, 1, 2, 3, 4]    relevant {1, 3}        hits at ranks 2, 4
#   user 1: ranking [5, 4, 3, -1, -1]  relevant {5, 0, 1, 2}  hit at rank 1 (R=4 > K=3)
#   user 2: ranking [2, 0, 4, 1, 3]    relevant {3, 4}        hits at ranks 3, 5
#
# Discounts 1/log2(r+1): r=1 -> 1, r=2 -> 1/log2(3), r=3 -> 1/2, r=4 -> 1/log2(5),
# r=5 -> 1/log2(6).
# --------------------------------------------------------------------------------------
L3, L5, L6 = math.log2(3), math.log2(5), math.log2(6)
RECOMMENDED = np.array([[0, 1, 2, 3, 4], [5, 4, 3, -1, -1], [2, 0, 4, 1, 3]])
RELEVANT = [{1, 3}, {5, 0, 1, 2}, {3, 4}]
N_ITEMS = 6
EXPECTED = {
    # K=1: only user 1 has a hit in the top 1 (item 5 at rank 1).
    "precision@1": [0, 1, 0],  # hits / 1
    "recall@1": [0, 1 / 4, 0],  # user 1: 1 hit of 4 relevant
    "ndcg@1": [0, 1, 0],  # user 1: DCG = 1, IDCG over min(4, 1) = 1 hit = 1
    "hitrate@1": [0, 1, 0],
    "map@1": [0, 1, 0],  # user 1: precision@1 = 1, / min(4, 1) = 1
    "mrr@1": [0, 1, 0],
    # K=3: each user has exactly one hit in the top 3 (ranks 2, 1, 3).
    "precision@3": [1 / 3, 1 / 3, 1 / 3],
    "recall@3": [1 / 2, 1 / 4, 1 / 2],
    "ndcg@3": [
        # user 0: DCG = 1/log2(3); IDCG over min(2, 3) = 2 hits = 1 + 1/log2(3)
        (1 / L3) / (1 + 1 / L3),
        # user 1: DCG = 1; IDCG over min(4, 3) = 3 hits = 1 + 1/log2(3) + 1/2
        1 / (1 + 1 / L3 + 1 / 2),
        # user 2: DCG = 1/log2(4) = 1/2; IDCG = 1 + 1/log2(3)
        (1 / 2) / (1 + 1 / L3),
    ],
    "hitrate@3": [1, 1, 1],
    "map@3": [
        (1 / 2) / 2,  # user 0: precision@2 = 1/2, / min(2, 3) = 2  -> 1/4
        1 / 3,  # user 1: precision@1 = 1, / min(4, 3) = 3      -> 1/3
        (1 / 3) / 2,  # user 2: precision@3 = 1/3, / min(2, 3) = 2  -> 1/6
    ],
    "mrr@3": [1 / 2, 1, 1 / 3],  # first hits at ranks 2, 1, 3
    # K=5: users 0 and 2 find both relevant items, user 1 still only one.
    "precision@5": [2 / 5, 1 / 5, 2 / 5],
    "recall@5": [1, 1 / 4, 1],  # 2/2, 1/4 (padding is no hit), 2/2
    "ndcg@5": [
        # user 0: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
        (1 / L3 + 1 / L5) / (1 + 1 / L3),
        # user 1: DCG = 1; IDCG over min(4, 5) = 4 hits = 1 + 1/log2(3) + 1/2 + 1/log2(5)
        1 / (1 + 1 / L3 + 1 / 2 + 1 / L5),
        # user 2: DCG = 1/log2(4) + 1/log2(6); IDCG = 1 + 1/log2(3)
        (1 / 2 + 1 / L6) / (1 + 1 / L3),
    ],
    "hitrate@5": [1, 1, 1],
    "map@5": [
        (1 / 2 + 2 / 4) / 2,  # user 0: precision@2 + precision@4, / 2     -> 1/2
        1 / 4,  # user 1: precision@1 = 1, / min(4, 5) = 4           -> 1/4
        (1 / 3 + 2 / 5) / 2,  # user 2: precision@3 + precision@5 = 11/15, / 2 -> 11/30
    ],
    "mrr@5": [1 / 2, 1, 1 / 3],
}


def test_hits_matrix_hand_example():
    targets = targets_from_sets(RELEVANT, N_ITEMS)
    hits = hits_matrix(RECOMMENDED, targets)
    assert hits.dtype == bool
    np.testing.assert_array_equal(
        hits,
        [
            [False, True, False, True, False],
            [True, False, False, False, False],
            [False, False, True, False, True],
        ],
    )
    np.testing.assert_array_equal(relevant_counts(targets), [2, 4, 2])


def test_user_metrics_hand_example():
    targets = targets_from_sets(RELEVANT, N_ITEMS)
    hits = hits_matrix(RECOMMENDED, targets)
    got = user_metrics(hits, relevant_counts(targets), [1, 3, 5])
    assert list(got) == [f"{m}@{k}" for m in METRICS for k in (1, 3, 5)]
    for key, expected in EXPECTED.items():
        assert got[key].dtype == np.float64
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-12, err_msg=key)
    # the exact fractions spelled out above
    assert got["map@5"][2] == pytest.approx(11 / 30)
    assert got["map@3"][2] == pytest.approx(1 / 6)


def test_coverage_hand_example():
    # top 1: {0, 5, 2} = 3 of 6; top 3: {0,1,2} | {5,4,3} | {2,0,4} = all 6.
    assert coverage(RECOMMENDED, N_ITEMS, [1, 3, 5]) == {
        "coverage@1": 0.5,
        "coverage@3": 1.0,
        "coverage@5": 1.0,
    }


def test_padding_is_never_a_hit():
    # User 0's last item (5) is relevant. A naive flattened key row * n_items + col would
    # turn user 1's -1 into (user 0, item 5); user 0's -1 must not wrap around either.
    targets = targets_from_sets([{5}, {5}], 6)
    recommended = np.array([[-1, 5, -1], [-1, -1, 0]])
    hits = hits_matrix(recommended, targets)
    np.testing.assert_array_equal(hits, [[False, True, False], [False, False, False]])
    got = user_metrics(hits, np.array([1, 1]), [1, 3])
    np.testing.assert_allclose(got["recall@3"], [1, 0])
    np.testing.assert_allclose(got["mrr@3"], [1 / 2, 0])
    np.testing.assert_allclose(got["precision@3"], [1 / 3, 0])  # padding counts as a miss


def test_more_relevant_than_k():
    # 5 relevant items, all 3 recommended are hits: precision 1, recall 3/5,
    # IDCG over min(5, 3) = 3 hits so NDCG = 1, MAP = (1 + 1 + 1) / 3 = 1.
    hits = np.array([[True, True, True]])
    got = user_metrics(hits, np.array([5]), [2, 3])
    assert got["precision@3"][0] == 1
    assert got["recall@3"][0] == pytest.approx(3 / 5)
    assert got["recall@2"][0] == pytest.approx(2 / 5)
    assert got["ndcg@3"][0] == pytest.approx(1)
    assert got["map@3"][0] == pytest.approx(1)
    assert got["map@2"][0] == pytest.approx(1)


def test_non_canonical_targets():
    # row 0: unsorted indices with a duplicate of item 3; row 1: item 2 stored as an
    # explicit zero, which is not relevant.
    targets = sp.csr_matrix(
        (np.array([1.0, 1.0, 1.0, 0.0, 1.0]), np.array([3, 1, 3, 2, 0]), np.array([0, 3, 5])),
        shape=(2, 4),
    )
    recommended = np.array([[3, 2, 1], [2, 0, 1]])
    np.testing.assert_array_equal(
        hits_matrix(recommended, targets), [[True, False, True], [False, True, False]]
    )
    np.testing.assert_array_equal(relevant_counts(targets), [2, 1])
    assert targets.nnz == 5  # the caller's matrix was not modified
    # other sparse formats are read the same way
    np.testing.assert_array_equal(
        hits_matrix(recommended, sp.csr_array(targets).tocsc()),
        [[True, False, True], [False, True, False]],
    )


def test_novelty_hand_example():
    # 3 training users; item popularity [3, 1, 0, 0, 0] gives
    # p = [(3+1)/4, (1+1)/4, 1/4, 1/4, 1/4] = [1, 1/2, 1/4, 1/4, 1/4]
    # and self-information -log2 p = [0, 1, 2, 2, 2].
    popularity = np.array([3, 1, 0, 0, 0])
    recommended = np.array([[0, 1, -1], [2, 3, 1], [-1, -1, -1]])
    got = novelty(recommended, popularity, 3, [1, 2, 3])
    np.testing.assert_allclose(got["novelty@1"], [0, 2, 0])
    np.testing.assert_allclose(got["novelty@2"], [(0 + 1) / 2, (2 + 2) / 2, 0])
    # user 0: padding ignored, still (0 + 1) / 2; user 1: (2 + 2 + 1) / 3;
    # user 2 has no items at all and gets 0.
    np.testing.assert_allclose(got["novelty@3"], [1 / 2, 5 / 3, 0])


def test_coverage_tiny():
    # 5 items. top 1: {0} -> 1/5; top 2: {0, 1, 2} -> 3/5; top 3 adds only padding and 1.
    recommended = np.array([[0, 1, -1], [0, 2, 1]])
    assert coverage(recommended, 5, [3, 1, 2]) == {
        "coverage@3": 3 / 5,
        "coverage@1": 1 / 5,
        "coverage@2": 3 / 5,
    }


def test_value_errors():
    hits = np.array([[True, False], [False, False]])
    with pytest.raises(ValueError, match="no relevant items"):
        user_metrics(hits, np.array([1, 0]), [1])
    with pytest.raises(ValueError, match="larger than"):
        user_metrics(hits, np.array([1, 1]), [3])
    with pytest.raises(ValueError, match="at least 1"):
        user_metrics(hits, np.array([1, 1]), [0])
    with pytest.raises(ValueError, match="empty"):
        user_metrics(hits, np.array([1, 1]), [])
    with pytest.raises(ValueError, match="shape"):
        user_metrics(hits, np.array([1, 1, 1]), [1])
    with pytest.raises(ValueError, match="boolean"):
        user_metrics(hits.astype(int), np.array([1, 1]), [1])
    with pytest.raises(ValueError, match="more hits than relevant"):
        user_metrics(np.array([[True, True]]), np.array([1]), [2])

    targets = targets_from_sets([{0}, {1}], 3)
    with pytest.raises(ValueError, match="only 3 items"):
        hits_matrix(np.array([[3], [0]]), targets)
    with pytest.raises(ValueError, match="-1"):
        hits_matrix(np.array([[-2], [0]]), targets)
    with pytest.raises(ValueError, match="rows"):
        hits_matrix(np.array([[0]]), targets)
    with pytest.raises(ValueError, match="integer"):
        hits_matrix(np.array([[0.0], [1.0]]), targets)
    with pytest.raises(ValueError, match="sparse"):
        hits_matrix(np.array([[0], [1]]), targets.toarray())

    with pytest.raises(ValueError, match="larger than"):
        novelty(np.array([[0]]), np.array([1, 1]), 2, [2])
    with pytest.raises(ValueError, match="item_popularity"):
        novelty(np.array([[0]]), np.array([3, 1]), 2, [1])
    with pytest.raises(ValueError, match="larger than"):
        coverage(np.array([[0]]), 2, [2])
    with pytest.raises(ValueError, match="only 2 items"):
        coverage(np.array([[2]]), 2, [1])


# --------------------------------------------------------------------------------------
# Randomised comparison with a per-user loop reference.
# --------------------------------------------------------------------------------------
def reference_metrics(ranking: list[int], relevant: set[int], k: int) -> dict[str, float]:
    top = ranking[:k]
    flags = [item >= 0 and item in relevant for item in top]
    n_hits = sum(flags)
    dcg = sum(1 / math.log2(r + 2) for r, hit in enumerate(flags) if hit)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    ap, seen = 0.0, 0
    for r, hit in enumerate(flags, start=1):
        if hit:
            seen += 1
            ap += seen / r
    first = next((r for r, hit in enumerate(flags, start=1) if hit), None)
    return {
        "precision": n_hits / k,
        "recall": n_hits / len(relevant),
        "ndcg": dcg / idcg,
        "hitrate": float(n_hits > 0),
        "map": ap / min(len(relevant), k),
        "mrr": 1 / first if first else 0.0,
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_loop_reference(seed, monkeypatch):
    # A small bitmap budget forces hits_matrix through many row chunks.
    monkeypatch.setattr(metrics_module, "_BITMAP_BYTES", 7 * 50)
    recommended, relevant = random_case(seed)
    targets = targets_from_sets(relevant, 50)
    ks = [1, 5, 10, 20]

    hits = hits_matrix(recommended, targets)
    expected_hits = [
        [item >= 0 and item in rel for item in row]
        for row, rel in zip(recommended.tolist(), relevant, strict=True)
    ]
    np.testing.assert_array_equal(hits, expected_hits)

    got = user_metrics(hits, relevant_counts(targets), ks)
    for k in ks:
        ref = [
            reference_metrics(row, rel, k)
            for row, rel in zip(recommended.tolist(), relevant, strict=True)
        ]
        for m in METRICS:
            np.testing.assert_allclose(
                got[f"{m}@{k}"], [r[m] for r in ref], rtol=1e-12, atol=1e-12, err_msg=f"{m}@{k}"
            )

    rng = np.random.default_rng(seed + 100)
    n_train = 1000
    popularity = rng.integers(0, n_train + 1, size=50)
    got_nov = novelty(recommended, popularity, n_train, ks)
    got_cov = coverage(recommended, 50, ks)
    for k in ks:
        ref_nov = []
        items: set[int] = set()
        for row in recommended.tolist():
            top = [i for i in row[:k] if i >= 0]
            items.update(top)
            info = [-math.log2((popularity[i] + 1) / (n_train + 1)) for i in top]
            ref_nov.append(sum(info) / len(info) if info else 0.0)
        np.testing.assert_allclose(got_nov[f"novelty@{k}"], ref_nov, rtol=1e-12)
        assert got_cov[f"coverage@{k}"] == pytest.approx(len(items) / 50)


def test_empty_targets_and_int32_input():
    recommended = np.array([[1, 0], [0, -1]], dtype=np.int32)
    targets = sp.csr_matrix((2, 3))
    np.testing.assert_array_equal(hits_matrix(recommended, targets), np.zeros((2, 2), bool))
