"""The two-tower network on a tiny made-up shop: shapes, the training report, determinism,
learning, cold items, early stopping, the mixed-precision path and input checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shoprec.config import TwoTowerParams
from shoprec.models.two_tower import ItemFeatures, TwoTower, UserInputs
from tests.models.two_tower.shop import (
    CATEGORIES,
    GPU,
    HISTORY,
    N_EXAMPLES,
    SMALL,
    category_of,
    fit,
    fresh_users,
    small_model,
)


def test_shapes_unit_norm_and_history_report(data, fitted_run):
    items, users, *_ = data
    model, history, seconds = fitted_run
    item_vectors = model.item_embeddings()
    user_vectors = model.user_embeddings(users)
    assert item_vectors.shape == (60, 8) and item_vectors.dtype == np.float32
    assert user_vectors.shape == (3000, 8) and user_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(item_vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(user_vectors, axis=1), 1.0, atol=1e-5)
    # the raw-feature tower and the training tables agree on the catalogue
    np.testing.assert_allclose(model.item_embeddings(items), item_vectors, atol=1e-6)
    # the report names the device TensorFlow sees, and what follows from it
    assert history["device"] == ("GPU" if GPU else "CPU")
    assert history["mixed_precision"] is GPU
    assert history["batch_size"] == SMALL["batch_size"] * (4 if GPU else 1)
    assert len(history["loss"]) == 4 and history["val"] == [] and history["best_epoch"] == 3
    # the rate counts every example of every epoch, timed within the fit call: it cannot be
    # below (examples x epochs) / (the fit's wall time)
    assert np.isfinite(history["examples_per_second"])
    assert history["examples_per_second"] >= N_EXAMPLES * 4 / seconds * (1 - 1e-9)


def test_training_loss_goes_down(fitted):
    _, history = fitted
    assert history["loss"][-1] < history["loss"][0]


def test_same_seed_same_model_other_seed_differs(data, fitted):
    model, _ = fitted
    again, _ = fit(data)
    if GPU:  # GPU kernels (atomics, mixed precision) are not bit-deterministic
        tolerance = {"atol": 2e-2, "rtol": 0}
        np.testing.assert_allclose(again.item_embeddings(), model.item_embeddings(), **tolerance)
        np.testing.assert_allclose(
            again.user_embeddings(data[1]), model.user_embeddings(data[1]), **tolerance
        )
    else:  # CPU: op determinism is on, the refit is bit-identical
        np.testing.assert_array_equal(again.item_embeddings(), model.item_embeddings())
        np.testing.assert_array_equal(
            again.user_embeddings(data[1]), model.user_embeddings(data[1])
        )
    other, _ = fit(data, seed=7)
    assert np.abs(other.item_embeddings() - model.item_embeddings()).max() > 0.1


def test_learns_category_preference(data, fitted):
    items, *_, trained = data
    model, _ = fitted
    item_vectors = model.item_embeddings()
    cats = category_of(items)
    for a in range(len(CATEGORIES)):
        scores = model.user_embeddings(fresh_users(items, trained, a)) @ item_vectors.T
        in_a = scores[:, cats == a].mean()
        for b in set(range(len(CATEGORIES))) - {a}:
            assert in_a > scores[:, cats == b].mean() + 0.05, (a, b)


def test_all_padding_history_gives_finite_vectors(fitted):
    model, _ = fitted
    users = UserInputs(
        user_ids=np.array(["nobody", "user-3"]),
        history=np.full((2, HISTORY), -1, dtype=np.int32),
        behaviour=np.zeros((2, 3), dtype=np.float32),
    )
    vectors = model.user_embeddings(users)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # a shorter history matrix is padded with -1, a longer one cut to the most recent
    short = UserInputs(users.user_ids, users.history[:, :2], users.behaviour)
    np.testing.assert_array_equal(model.user_embeddings(short), vectors)


def test_cold_items_get_content_vectors(data, fitted):
    items, *_, trained = data
    model, _ = fitted
    item_vectors = model.item_embeddings()
    cold = item_vectors[~trained]
    assert len(cold) == 6 and np.isfinite(cold).all()
    assert (np.linalg.norm(cold, axis=1) > 0.5).all()

    new = ItemFeatures(
        item_ids=np.array(["never-seen-1", "never-seen-2"]),
        category=np.array(["Shoes/Running", "unknown"]),
        top_category=np.array(["Shoes", "unknown"]),
        brand=np.array(["Brand New Co", ""]),
        price_bucket=np.array([3, 0], dtype=np.int32),
        title=np.array(["Trail running sneaker, neon zebra", ""]),
    )
    vectors = model.item_embeddings(new)
    assert vectors.shape == (2, 8) and np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the new running shoe lands nearer to the running shoes than to the other categories
    similarity = item_vectors @ vectors[0]
    cats = category_of(items)
    assert similarity[cats == 0].mean() > similarity[cats != 0].mean()


def test_early_stopping_restores_best_epoch(data):
    items, users, positives, weights, trained = data
    model = small_model(epochs=6, patience=2)
    seen: list[np.ndarray] = []

    def validate(m: TwoTower) -> float:
        seen.append(m.item_embeddings())
        return 1.0 - 0.1 * len(seen)  # gets worse every epoch

    history = model.fit(items, users, positives, weights, trained, validate=validate)
    assert len(history["loss"]) == 3 and len(history["val"]) == 3
    assert history["best_epoch"] == 0
    np.testing.assert_array_equal(model.item_embeddings(), seen[0])
    assert not np.array_equal(seen[0], seen[-1])


def test_mixed_precision_and_random_negatives_path(data):
    """The GPU code path (mixed_float16, loss scaling) forced on CPU, with extra negatives."""
    model, history = fit(data, epochs=1, mixed_precision=True, random_negatives=32)
    assert history["mixed_precision"] is True and np.isfinite(history["loss"]).all()
    vectors = model.item_embeddings()
    assert vectors.dtype == np.float32 and np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_bad_inputs_are_refused(data, fitted):
    items, users, positives, weights, trained = data
    model, _ = fitted
    bad = UserInputs(users.user_ids[:1], np.array([[60, -1, -1, -1, -1]]), users.behaviour[:1])
    with pytest.raises(ValueError, match="n_items"):
        model.user_embeddings(bad)
    with pytest.raises(ValueError, match="behaviour"):
        model.user_embeddings(UserInputs(users.user_ids, users.history, users.behaviour[:, :2]))
    with pytest.raises(ValueError, match="train_items"):
        small_model().fit(items, users, positives + 100, weights, trained)
    empty = UserInputs(np.array([], dtype=str), np.zeros((0, HISTORY), np.int32), np.zeros((0, 3)))
    assert model.user_embeddings(empty).shape == (0, 8)
    with pytest.raises(RuntimeError, match="fit or load"):
        TwoTower().item_embeddings()


def test_hyper_parameters_come_from_two_tower_params():
    """TwoTowerParams is the one home of the defaults: the model keeps the instance it is
    given, falls back to TwoTowerParams() and takes no hyper-parameter keywords."""
    assert TwoTower().params == TwoTowerParams()
    params = TwoTowerParams(temperature=0.3, learning_rate=0.02, patience=5)
    assert TwoTower(params).params is params
    with pytest.raises(TypeError):
        TwoTower(temperature=0.05)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="TwoTowerParams"):
        TwoTower({"temperature": 0.05})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="title_hash_bins"):
        TwoTower(title_hash_bins=1)


def test_importing_models_package_does_not_import_tensorflow():
    code = "import sys, shoprec.models; assert 'tensorflow' not in sys.modules, 'tf imported'"
    src = Path(__file__).resolve().parents[3] / "src"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=src.parent, timeout=120)


def test_building_tower_inputs_does_not_import_tensorflow():
    """The features layer builds ItemFeatures/UserInputs without importing a model."""
    code = (
        "import sys, shoprec.features.sequences, shoprec.features.tower_inputs; "
        "assert 'tensorflow' not in sys.modules and 'shoprec.models.two_tower' not in sys.modules"
    )
    src = Path(__file__).resolve().parents[3] / "src"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=src.parent, timeout=120)
