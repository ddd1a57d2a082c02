"""Saving and loading the two-tower model: identical vectors after a round trip, files in
safe formats only (no pickle anywhere), and directories of the earlier parameter layout."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from shoprec.config import TwoTowerParams
from shoprec.models.two_tower import TwoTower, UserInputs
from shoprec.models.two_tower.saving import CATALOGUE_FILE, METADATA_FILE
from tests.models.two_tower.shop import TITLE_HASH_BINS, small_model

# Keras' own saving code trips NumPy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

_PICKLE_HEADERS = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))


def _assert_not_pickle(name: str, head: bytes) -> None:
    assert not head.startswith(_PICKLE_HEADERS), f"{name} starts like a pickle"


def assert_pickle_free(directory: Path) -> None:
    """Every file is of a known safe kind; NumPy and zip contents are checked inside."""
    import keras

    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        assert path.suffix not in {".pkl", ".pickle", ".joblib", ".dill"}, relative
        if relative.startswith("user_tower_savedmodel/"):
            # protobuf graph + TF checkpoint (tensor bytes, not Python objects)
            assert path.name in {"saved_model.pb", "fingerprint.pb", "variables.index"} or (
                path.name.startswith("variables.data-")
            ), relative
            continue
        assert path.suffix in {".keras", ".npz", ".json"}, relative
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
            continue
        assert zipfile.is_zipfile(path), relative
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                assert member.endswith((".npy", ".json", ".h5")), (relative, member)
                with archive.open(member) as handle:
                    _assert_not_pickle(f"{relative}:{member}", handle.read(2))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:  # object arrays would raise
                for key in arrays.files:
                    assert arrays[key].dtype != object
        else:
            keras.saving.load_model(path, safe_mode=True)


def test_save_load_identical_and_pickle_free(data, fitted, tmp_path):
    import tensorflow as tf

    items, users, *_ = data
    model, _ = fitted
    directory = model.save(tmp_path / "model")
    names = {p.name for p in directory.iterdir()}
    assert {"user_tower.keras", "item_tower.keras", "two_tower.json"} <= names
    assert (directory / "user_tower_savedmodel" / "1" / "saved_model.pb").is_file()
    assert_pickle_free(directory)

    loaded = TwoTower.load(directory)
    assert loaded.params == model.params
    assert loaded.title_hash_bins == model.title_hash_bins == TITLE_HASH_BINS
    assert loaded.mixed_precision is model.mixed_precision
    np.testing.assert_allclose(
        loaded.user_embeddings(users), model.user_embeddings(users), rtol=1e-6
    )
    np.testing.assert_allclose(loaded.item_embeddings(), model.item_embeddings(), rtol=1e-6)
    np.testing.assert_allclose(
        loaded.item_embeddings(items), model.item_embeddings(items), rtol=1e-6
    )

    # the SavedModel export serves the same user vectors (what TF Serving would load)
    served = tf.saved_model.load(str(directory / "user_tower_savedmodel" / "1"))
    out = served.serve(
        {
            "user_id": tf.constant(users.user_ids[:50]),
            "history": tf.constant(users.history[:50]),
            "behaviour": tf.constant(users.behaviour[:50]),
        }
    )
    np.testing.assert_allclose(out.numpy(), model.user_embeddings(users)[:50], atol=1e-6)


def test_without_behaviour_features(data, tmp_path):
    items, users, positives, weights, trained = data
    no_behaviour = UserInputs(users.user_ids, users.history, np.zeros((len(users), 0), np.float32))
    model = small_model(epochs=1)
    model.fit(items, no_behaviour, positives, weights, trained)
    vectors = model.user_embeddings(no_behaviour)
    assert vectors.shape == (3000, 8) and np.isfinite(vectors).all()
    loaded = TwoTower.load(model.save(tmp_path / "m", export_savedmodel=False))
    assert not (tmp_path / "m" / "user_tower_savedmodel").exists()
    assert_pickle_free(tmp_path / "m")
    np.testing.assert_allclose(loaded.user_embeddings(no_behaviour), vectors, rtol=1e-6)


def test_metadata_records_the_typed_params(fitted, tmp_path):
    model, _ = fitted
    meta = json.loads((model.save(tmp_path / "m", False) / METADATA_FILE).read_text())
    assert meta["params"] == {
        **model.params.model_dump(),
        "title_hash_bins": TITLE_HASH_BINS,
        "mixed_precision": None,
    }
    assert meta["n_items"] == 60 and meta["n_trained_items"] == 54


def test_loads_the_earlier_parameter_layout(data, fitted, tmp_path):
    """Directories saved when TwoTower took keywords: ``params`` without the fit recipe's
    ``early_stopping_k``/``refit`` (they take the defaults); same vectors."""
    _, users, *_ = data
    model, _ = fitted
    directory = model.save(tmp_path / "old", export_savedmodel=False)
    meta = json.loads((directory / METADATA_FILE).read_text())
    for key in ("early_stopping_k", "refit"):
        del meta["params"][key]
    (directory / METADATA_FILE).write_text(json.dumps(meta))
    loaded = TwoTower.load(directory)
    defaults = TwoTowerParams()
    assert loaded.params.early_stopping_k == defaults.early_stopping_k
    assert loaded.params.model_dump(exclude={"early_stopping_k", "refit"}) == (
        model.params.model_dump(exclude={"early_stopping_k", "refit"})
    )
    np.testing.assert_allclose(
        loaded.user_embeddings(users), model.user_embeddings(users), rtol=1e-6
    )


def test_refuses_other_formats_and_object_arrays(fitted, tmp_path):
    model, _ = fitted
    directory = model.save(tmp_path / "m", export_savedmodel=False)
    meta = json.loads((directory / METADATA_FILE).read_text())
    (directory / METADATA_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="format"):
        TwoTower.load(directory)
    (directory / METADATA_FILE).write_text(json.dumps({**meta, "title_max_tokens": 7}))
    with pytest.raises(ValueError, match="title length"):
        TwoTower.load(directory)

    # an object array in the catalogue would be pickled by np.savez: refused before writing
    original = model.catalogue
    model.catalogue = {**original, "item_ids": original["item_ids"].astype(object)}
    try:
        with pytest.raises(TypeError, match="object array"):
            model.save(tmp_path / "bad", export_savedmodel=False)
    finally:
        model.catalogue = original
    assert not (tmp_path / "bad").exists()
    # and a pickled catalogue on disk is not loaded
    bad = tmp_path / "pickled"
    model.save(bad, export_savedmodel=False)
    np.savez(bad / CATALOGUE_FILE, item_ids=np.array(["a", 1], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        TwoTower.load(bad)
