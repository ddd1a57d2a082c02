"""Baseline recommenders: top-k selection, exact model math against NumPy references,
ranking by ids, and safe (pickle-free) persistence."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from shoprec.errors import ConfigError, DataError
from shoprec.features.interactions import Interactions
from shoprec.models.base import METADATA_FILE, top_k
from shoprec.models.ease import EASE
from shoprec.models.itemknn import ItemKNN, cosine_neighbours
from shoprec.models.most_popular import MostPopular
from shoprec.training.model_table import BASELINES, create_model, load_model


def make_interactions(dense: np.ndarray) -> Interactions:
    dense = np.asarray(dense, dtype=np.float32)
    n_users, n_items = dense.shape
    return Interactions(
        matrix=sp.csr_matrix(dense),
        user_ids=np.array([f"u{i}" for i in range(n_users)]),
        item_ids=np.array([f"i{j}" for j in range(n_items)]),
    )


def random_dense(seed: int, n_users: int = 12, n_items: int = 9, density: float = 0.4):
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.5, 3.0, size=(n_users, n_items))
    mask = rng.random((n_users, n_items)) < density
    dense = np.where(mask, values, 0.0)
    dense[0, :] = 0.0  # one user with nothing would be unusual; give every row something
    dense[0, 0] = 1.0
    return dense


# A small history with distinct popularity: item counts (distinct users) are 4, 3, 2, 1, 0.
SMALL = np.array(
    [
        [1, 1, 1, 1, 0],
        [2, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [5, 0, 0, 0, 0],
    ],
    dtype=np.float32,
)


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


# -- MostPopular -----------------------------------------------------------------------------
def test_most_popular_counts_distinct_users():
    model = MostPopular().fit(make_interactions(SMALL))
    np.testing.assert_array_equal(model.popularity, [4, 3, 2, 1, 0])
    scores = model.score(sp.csr_matrix(SMALL[:2]))
    assert scores.shape == (2, 5)
    np.testing.assert_array_equal(scores[0], scores[1])
    idx, _ = model.recommend_indices(np.array([3]), 5, exclude_seen=False)
    assert idx.tolist() == [[0, 1, 2, 3, 4]]


def test_most_popular_weight_measure_sums_values():
    model = MostPopular(measure="weight").fit(make_interactions(SMALL))
    np.testing.assert_allclose(model.popularity, SMALL.sum(axis=0))
    # weight ranks item 0 (sum 9) first, then items 1 (3) and 2 (2)
    idx, _ = model.recommend_indices(np.array([3]), 2, exclude_seen=True)
    assert idx.tolist() == [[1, 2]]


def test_most_popular_rejects_unknown_measure():
    with pytest.raises(ValueError, match="measure"):
        MostPopular(measure="clicks")


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


# -- EASE ------------------------------------------------------------------------------------
@pytest.mark.parametrize("l2", [0.5, 10.0])
def test_ease_weights_match_closed_form(l2):
    dense = random_dense(4)
    n_items = dense.shape[1]
    model = EASE(l2=l2).fit(make_interactions(dense))
    x = dense.astype(np.float32).astype(np.float64)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(n_items))
    expected = np.eye(n_items) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights, expected, rtol=1e-4, atol=1e-5)
    assert np.all(np.diag(model.weights) == 0)
    np.testing.assert_allclose(
        model.score(sp.csr_matrix(dense.astype(np.float32))), x @ expected, rtol=1e-3, atol=1e-4
    )


def test_ease_refuses_too_many_items():
    model = EASE(l2=1.0, max_items=4)
    with pytest.raises(ConfigError, match="max_items"):
        model.fit(make_interactions(SMALL))  # 5 items > 4
    EASE(l2=1.0, max_items=5).fit(make_interactions(SMALL))  # exactly at the limit is fine


# -- ranking -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_recommend_indices_excludes_seen_items(name):
    dense = random_dense(5)
    history = make_interactions(dense)
    model = create_model(name).fit(history)
    rows = np.arange(history.shape[0])
    k = history.shape[1]
    idx, scores = model.recommend_indices(rows, k, exclude_seen=True, batch_size=5)
    for r in rows:
        seen = set(np.flatnonzero(dense[r]).tolist())
        returned = [i for i in idx[r].tolist() if i >= 0]
        assert not seen & set(returned)
        # the unseen items are all rankable, and the padding is -1
        assert set(returned) == set(range(k)) - seen
        assert idx[r, len(returned) :].tolist() == [-1] * (k - len(returned))
        assert np.all(np.diff(scores[r, : len(returned)]) <= 0)


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


# -- persistence -----------------------------------------------------------------------------
PARAMS = {
    "most_popular": {"measure": "weight"},
    "itemknn": {"neighbors": 3, "shrinkage": 1.5},
    "ease": {"l2": 2.0, "max_items": 100},
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_save_load_round_trip(tmp_path: Path, name: str):
    dense = random_dense(6)
    history = make_interactions(dense)
    model = create_model(name, **PARAMS[name]).fit(history)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model)
    assert loaded.params == model.params
    np.testing.assert_array_equal(loaded.history.user_ids, history.user_ids)
    np.testing.assert_array_equal(loaded.history.item_ids, history.item_ids)
    assert (loaded.history.matrix != history.matrix).nnz == 0
    rows = np.arange(history.shape[0])
    np.testing.assert_array_equal(loaded.score(history.matrix), model.score(history.matrix))
    for exclude in (True, False):
        a_idx, a_scores = model.recommend_indices(rows, 6, exclude_seen=exclude)
        b_idx, b_scores = loaded.recommend_indices(rows, 6, exclude_seen=exclude)
        np.testing.assert_array_equal(a_idx, b_idx)
        np.testing.assert_array_equal(a_scores, b_scores)
    users = list(history.user_ids[:4])
    pd.testing.assert_frame_equal(model.recommend(users, k=4), loaded.recommend(users, k=4))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_saved_files_contain_no_pickle(tmp_path: Path, name: str):
    model = create_model(name, **PARAMS[name]).fit(make_interactions(random_dense(7)))
    directory = model.save(tmp_path / "m")
    meta = json.loads((directory / METADATA_FILE).read_text())
    assert meta["model"] == name
    files = [p for p in directory.rglob("*") if p.is_file()]
    suffixes = {p.suffix for p in files}
    assert suffixes <= {".npy", ".npz", ".json"}, suffixes
    arrays = 0
    for path in files:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    assert data[key].dtype != object
                    arrays += 1
            with zipfile.ZipFile(path) as archive:
                assert all(n.endswith(".npy") for n in archive.namelist())
        elif path.suffix == ".npy":
            assert np.load(path, allow_pickle=False).dtype != object
            arrays += 1
    assert arrays > 0


def test_load_model_without_metadata_is_a_data_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=METADATA_FILE):
        load_model(tmp_path / "empty")
    with pytest.raises(DataError):
        load_model(tmp_path / "does-not-exist")


def test_load_model_rejects_unknown_model_name_and_format(tmp_path: Path):
    model = MostPopular().fit(make_interactions(SMALL))
    directory = model.save(tmp_path / "m")
    meta = json.loads((directory / METADATA_FILE).read_text())
    (directory / METADATA_FILE).write_text(json.dumps({**meta, "model": "mystery"}))
    with pytest.raises(DataError, match="mystery"):
        load_model(directory)
    (directory / METADATA_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(DataError, match="format"):
        load_model(directory)


def test_create_model_unknown_name_is_a_data_error():
    with pytest.raises(DataError, match="two_tower_xl"):
        create_model("two_tower_xl")
    assert isinstance(create_model("ease", l2=3.0), EASE)


@pytest.mark.parametrize("neighbors", [1, 4, 50])
def test_itemknn_sparse_path_for_large_catalogues_equals_the_dense_one(neighbors, monkeypatch):
    """Catalogues above SPARSE_ABOVE_ITEMS use sparse co-occurrences; same similarity."""
    from shoprec.training.model_table import itemknn

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
