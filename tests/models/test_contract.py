"""The contract of every model in the model table: a saved model loads as the same model and
ranks the same, its files hold no pickle, and it never recommends an item the user has seen.

The baselines are fit on the tiny shop with non-default parameters (so that a parameter lost
on the way to disk shows); the two-tower, sequential and two-stage models come from the session
fixtures of tests/conftest.py, so each is trained once per run.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shoprec.models.base import METADATA_FILE
from shoprec.training.model_table import BASELINES, EVENT_MODELS, MODELS, load_model

# Keras' own saving code trips NumPy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
EVERY_MODEL = [*MODELS, *(m for m in EVENT_MODELS if m not in MODELS)]
SLOW = {"two_tower", "sequential"}  # trained with TensorFlow
PARAMS = {
    "most_popular": {"measure": "weight"},
    "itemknn": {"neighbors": 3, "shrinkage": 1.5},
    "ease": {"l2": 2.0, "max_items": 1000},
}
# users whose rankings are compared (the history's first rows and some evaluated users)
N_ROWS = 40


def every_model():
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in EVERY_MODEL
    ]


def test_the_contract_covers_every_model_of_the_table():
    assert set(EVERY_MODEL) == {
        "most_popular",
        "itemknn",
        "ease",
        "two_tower",
        "sequential",
        "two_stage",
    }
    assert set(BASELINES) <= set(PARAMS)


@pytest.fixture(scope="session")
def baseline_fits(tiny_shop):
    from shoprec.training.model_table import create_model

    history = tiny_shop["holdout"].history
    return {name: create_model(name, **PARAMS[name]).fit(history) for name in BASELINES}


@pytest.fixture
def model(request, name):
    """The fitted model called ``name`` (the TensorFlow fit is asked for only when needed)."""
    if name in BASELINES:
        return request.getfixturevalue("baseline_fits")[name]
    if name == "two_tower":
        return request.getfixturevalue("two_tower_fit")[0]
    if name == "two_stage":
        return request.getfixturevalue("two_stage_fit")[0]
    if name == "sequential":
        return request.getfixturevalue("sequential_fit")[0]
    raise AssertionError(f"no fixture for {name}: add it to the contract")


def rows_of(model) -> np.ndarray:
    n = model.history.shape[0]
    return np.unique(np.r_[np.arange(min(N_ROWS, n)), np.arange(n)[-5:]])


def is_pickle(data: bytes) -> bool:
    """Pickle protocol 2+ starts with PROTO (0x80) and the protocol number."""
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


@pytest.mark.parametrize("name", every_model())
def test_save_load_round_trip(name, model, tmp_path: Path):
    """A saved model loads as the same model (class, params, history) and ranks the same."""
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model)
    assert loaded.params == model.params
    np.testing.assert_array_equal(loaded.history.user_ids, model.history.user_ids)
    np.testing.assert_array_equal(loaded.history.item_ids, model.history.item_ids)
    assert (loaded.history.matrix != model.history.matrix).nnz == 0
    if name in BASELINES:
        history = model.history.matrix
        np.testing.assert_array_equal(loaded.score(history), model.score(history))
    rows = rows_of(model)
    for exclude in (True, False):
        a_idx, a_scores = model.recommend_indices(rows, 20, exclude_seen=exclude)
        b_idx, b_scores = loaded.recommend_indices(rows, 20, exclude_seen=exclude)
        np.testing.assert_array_equal(a_idx, b_idx)
        if name in BASELINES:
            np.testing.assert_array_equal(a_scores, b_scores)
        else:  # float32 arithmetic in another library (XGBoost, BLAS) after a reload
            np.testing.assert_allclose(a_scores, b_scores, rtol=1e-6)
    users = list(model.history.user_ids[rows[:4]])
    pd.testing.assert_frame_equal(
        model.recommend(users, k=4), loaded.recommend(users, k=4), check_exact=name in BASELINES
    )


@pytest.mark.parametrize("name", every_model())
def test_saved_files_contain_no_pickle(name, model, tmp_path: Path):
    directory = model.save(tmp_path / "m")
    meta = json.loads((directory / METADATA_FILE).read_text())
    assert meta["model"] == name
    files = [p for p in directory.rglob("*") if p.is_file()]
    suffixes = {p.suffix for p in files}
    assert not suffixes & {".pkl", ".pickle", ".joblib"}, suffixes
    if name in BASELINES:
        assert suffixes <= {".npy", ".npz", ".json"}, suffixes
    arrays = 0
    for path in files:
        assert not is_pickle(path.read_bytes()[:2]), path
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
        elif zipfile.is_zipfile(path):  # e.g. a Keras archive: no pickled member either
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    assert not is_pickle(archive.read(member)[:2]), (path, member)
    assert arrays > 0


@pytest.mark.parametrize("name", every_model())
def test_recommend_indices_excludes_seen_items(name, model):
    """No seen item is ever recommended, and every unseen one can be (padding is -1)."""
    history = model.history
    rows = rows_of(model)
    k = history.shape[1]
    idx, scores = model.recommend_indices(rows, k, exclude_seen=True, batch_size=7)  # batches
    assert idx.shape == scores.shape == (len(rows), k)
    for r, row in enumerate(rows):
        seen = set(history.matrix[row].indices.tolist())
        returned = [i for i in idx[r].tolist() if i >= 0]
        assert len(returned) == len(set(returned))
        assert not seen & set(returned)
        # every unseen item is rankable, and the padding is -1
        assert set(returned) == set(range(k)) - seen
        assert idx[r, len(returned) :].tolist() == [-1] * (k - len(returned))
        listed = scores[r, : len(returned)]
        assert np.all(np.diff(listed[np.isfinite(listed)]) <= 0)
