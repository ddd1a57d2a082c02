"""What every recommender shares (models/base.py): top-k selection with ties, exclusions and
padding, ranking by ids, and the errors of an unfitted model or an unknown user."""

from __future__ import annotations

import numpy as np
import pytest

from shoprec.errors import DataError
from shoprec.models.base import top_k
from shoprec.models.most_popular import MostPopular
from tests.tiny import SMALL, make_interactions


# -- top_k ---------------------------------------------------------------------------------
def reference_top_k(row: np.ndarray, k: int) -> list[int]:
    order = sorted(
        (j for j in range(len(row)) if not np.isneginf(row[j])), key=lambda j: (-row[j], j)
    )
    chosen = order[:k]
    return chosen + [-1] * (k - len(chosen))


def test_top_k_orders_best_first():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 1.0, 2.0, 0.0]], dtype=np.float32)
    idx, best = top_k(scores, 3)
    assert idx.tolist() == [[1, 3, 2], [0, 2, 1]]
    np.testing.assert_allclose(best, [[0.9, 0.7, 0.5], [3.0, 2.0, 1.0]], rtol=1e-6)
    assert best.dtype == np.float32


def test_top_k_breaks_ties_by_lower_index_full_sort():
    scores = np.array([[1.0, 2.0, 2.0, 1.0, 2.0]])
    idx, _ = top_k(scores, 5)
    assert idx.tolist() == [[1, 2, 4, 0, 3]]


def test_top_k_breaks_ties_by_lower_index_at_the_partition_boundary():
    # Many equal scores: which of them make the cut must not depend on argpartition's whims.
    scores = np.zeros((2, 300), dtype=np.float32)
    scores[:, 200:] = 1.0
    scores[1, 7] = 2.0
    idx, _ = top_k(scores, 3)
    assert idx.tolist() == [[200, 201, 202], [7, 200, 201]]

    rng = np.random.default_rng(0)
    many = rng.integers(0, 3, size=(40, 50)).astype(np.float32)
    idx, best = top_k(many, 7)
    for r in range(len(many)):
        assert idx[r].tolist() == reference_top_k(many[r], 7), r
        np.testing.assert_array_equal(best[r], many[r, idx[r]])


def test_top_k_excludes_neg_inf_and_pads_with_minus_one():
    scores = np.array([[-np.inf, 0.5, -np.inf, 0.2], [-np.inf] * 4], dtype=np.float32)
    idx, best = top_k(scores, 3)
    assert idx.tolist() == [[1, 3, -1], [-1, -1, -1]]
    assert best[0, 0] == pytest.approx(0.5)
    assert np.isneginf(best[0, 2])
    # the same when k is smaller than the catalogue and the partition path is taken
    wide = np.full((1, 10), -np.inf, dtype=np.float32)
    wide[0, 6] = 1.0
    idx, _ = top_k(wide, 3)
    assert idx.tolist() == [[6, -1, -1]]


def test_top_k_matches_reference_with_ties_and_exclusions():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(30, 25)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    for k in (1, 4, 24, 25, 30):
        idx, best = top_k(scores, k)
        assert idx.shape == (30, k)
        for r in range(len(scores)):
            assert idx[r].tolist() == reference_top_k(scores[r], k), (k, r)
            valid = idx[r] >= 0
            np.testing.assert_array_equal(best[r, valid], scores[r, idx[r, valid]])
            assert np.isneginf(best[r, ~valid]).all()


def test_top_k_never_returns_nan_scored_columns():
    scores = np.array([[np.nan, 0.5, np.nan, 0.2, 0.1]], dtype=np.float32)
    assert top_k(scores, 2)[0].tolist() == [[1, 3]]
    assert top_k(scores, 5)[0].tolist() == [[1, 3, 4, -1, -1]]


def test_top_k_with_k_larger_than_catalogue():
    scores = np.array([[0.3, 0.1, 0.2]], dtype=np.float32)
    idx, best = top_k(scores, 5)
    assert idx.shape == (1, 5) and best.shape == (1, 5)
    assert idx.tolist() == [[0, 2, 1, -1, -1]]
    assert np.isneginf(best[0, 3:]).all()


def test_recommend_indices_can_return_seen_items():
    history = make_interactions(SMALL)
    model = MostPopular().fit(history)
    idx, _ = model.recommend_indices(np.array([0]), 3, exclude_seen=False)
    assert idx.tolist() == [[0, 1, 2]]  # all seen by user 0
    idx, _ = model.recommend_indices(np.array([0]), 3, exclude_seen=True)
    assert idx.tolist() == [[4, -1, -1]]


def test_recommend_by_ids_returns_a_long_table():
    model = MostPopular().fit(make_interactions(SMALL))
    table = model.recommend(["u3", "u1"], k=3)
    assert list(table.columns) == ["user_id", "rank", "item_id", "score"]
    assert table["user_id"].tolist() == ["u3", "u3", "u3", "u1", "u1", "u1"]
    assert table["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    assert table["item_id"].tolist() == ["i1", "i2", "i3", "i2", "i3", "i4"]
    assert table["score"].tolist() == [3.0, 2.0, 1.0, 2.0, 1.0, 0.0]
    # user 0 has seen four of five items: one row only, no padding rows
    only = model.recommend(["u0"], k=3)
    assert only["item_id"].tolist() == ["i4"]
    assert only["rank"].tolist() == [1]


def test_recommend_unknown_user_raises_data_error():
    model = MostPopular().fit(make_interactions(SMALL))
    with pytest.raises(DataError, match="nobody"):
        model.recommend(["u0", "nobody"], k=2)


def test_recommend_before_fit_is_an_error():
    with pytest.raises(RuntimeError):
        MostPopular().recommend(["u0"], k=2)
