"""ItemKNN: cosine similarity with shrinkage against brute force, top neighbours per column, and
the sparse and few-user paths equal to the dense one."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shoprec.features.interactions import Interactions
from shoprec.models.itemknn import ItemKNN, cosine_neighbours
from tests.tiny import make_interactions, random_dense


# -- ItemKNN ---------------------------------------------------------------------------------
def brute_force_cosine(dense: np.ndarray, shrink: float) -> np.ndarray:
    x = np.asarray(dense, dtype=np.float64)
    norms = np.sqrt((x * x).sum(axis=0))
    sim = (x.T @ x) / (np.outer(norms, norms) + shrink)
    np.fill_diagonal(sim, 0.0)
    return sim


@pytest.mark.parametrize("shrink", [0.0, 2.5])
def test_itemknn_similarity_matches_brute_force(shrink):
    dense = random_dense(1)
    n_items = dense.shape[1]
    model = ItemKNN(neighbors=n_items + 3, shrinkage=shrink).fit(make_interactions(dense))
    expected = brute_force_cosine(dense, shrink)
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5, atol=1e-6)
    assert np.all(model.similarity.diagonal() == 0)
    # scores are history @ similarity
    history = sp.csr_matrix(dense.astype(np.float32))
    np.testing.assert_allclose(model.score(history), dense @ expected, rtol=1e-4, atol=1e-5)


def test_itemknn_shrinkage_lowers_similarities():
    dense = random_dense(2)
    plain = cosine_neighbours(sp.csr_matrix(dense), 100, 0.0).toarray()
    shrunk = cosine_neighbours(sp.csr_matrix(dense), 100, 5.0).toarray()
    positive = plain > 0
    assert positive.any()
    assert np.all(shrunk[positive] < plain[positive])


@pytest.mark.parametrize("neighbors", [1, 3, 5])
def test_itemknn_keeps_top_neighbours_per_target_column(neighbors):
    dense = random_dense(3, n_users=20, n_items=10, density=0.6)
    full = brute_force_cosine(dense, 1.0)
    sim = cosine_neighbours(sp.csr_matrix(dense), neighbors, 1.0).toarray()
    for j in range(dense.shape[1]):
        column = full[:, j]
        positive = np.flatnonzero(column > 0)
        expected = set(positive[np.argsort(-column[positive])][:neighbors].tolist())
        kept = set(np.flatnonzero(sim[:, j]).tolist())
        assert kept == expected, j
        assert len(kept) == min(neighbors, len(positive))
        np.testing.assert_allclose(sim[list(kept), j], column[list(kept)], rtol=1e-5)


@pytest.mark.parametrize("neighbors", [1, 4, 50])
def test_itemknn_sparse_path_for_large_catalogues_equals_the_dense_one(neighbors, monkeypatch):
    """Catalogues above SPARSE_ABOVE_ITEMS use sparse co-occurrences; same similarity."""
    from shoprec.models import itemknn

    dense = random_dense(5, n_users=60, n_items=40, density=0.15)
    expected = cosine_neighbours(sp.csr_matrix(dense), neighbors, 2.0).toarray()
    monkeypatch.setattr(itemknn, "SPARSE_ABOVE_ITEMS", 10)
    monkeypatch.setattr(itemknn, "SPARSE_BLOCK_ITEMS", 7)  # several blocks
    sparse_path = cosine_neighbours(sp.csr_matrix(dense), neighbors, 2.0).toarray()
    np.testing.assert_allclose(sparse_path, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_itemknn_few_user_path_equals_the_dense_path(exclude_seen):
    """One service request ranks only reachable items; same items, scores and tie order as
    the catalogue-wide path, including the zero-score filler for users with few neighbours."""
    from shoprec.models.base import Recommender

    rng = np.random.default_rng(11)
    dense = np.where(rng.random((80, 60)) < 0.06, rng.integers(1, 3, (80, 60)), 0)
    dense[0, :] = 0
    dense[0, 5] = 1  # a user who reaches almost nothing
    history = Interactions(
        sp.csr_matrix(dense.astype(np.float32)),
        np.array([f"u{i}" for i in range(80)]),
        np.array([f"i{j}" for j in range(60)]),
    )
    model = ItemKNN(neighbors=3, shrinkage=1.0).fit(history)
    rows = np.arange(80)
    for k in (1, 5, 40, 70):
        dense_idx, dense_scores = Recommender.recommend_indices(model, rows, k, exclude_seen)
        for start in range(0, 80, 10):
            idx, scores = model.recommend_indices(rows[start : start + 10], k, exclude_seen)
            np.testing.assert_array_equal(idx, dense_idx[start : start + 10])
            np.testing.assert_array_equal(scores, dense_scores[start : start + 10])


@pytest.mark.parametrize("neighbors", [1, 3, 50])
def test_the_top_of_each_column_is_the_full_sorts_even_among_ties(neighbors):
    """The sparse path drops what cannot make a column's top before sorting: the same
    positions as sorting everything, ties (many here: few distinct values) to the lower row."""
    from shoprec.models.itemknn import _top_in_columns

    rng = np.random.default_rng(3)
    co = sp.random(300, 40, density=0.3, format="csc", random_state=4)
    co.data = rng.integers(1, 4, co.nnz).astype(np.float64)  # values 1, 2, 3: ties
    co.sort_indices()
    lengths = np.diff(co.indptr)
    rows, cols = co.indices.astype(np.int64), np.repeat(np.arange(40), lengths)
    order = np.lexsort((rows, -co.data, cols))
    rank = np.arange(len(order)) - np.repeat(co.indptr[:-1], lengths)
    expected = order[rank < neighbors]
    np.testing.assert_array_equal(
        _top_in_columns(rows, cols, co.data, co.indptr, neighbors), expected
    )
