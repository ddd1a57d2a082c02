"""Two-tower retrieval model on a tiny made-up shop (CPU): shapes, determinism, learning,
cold items, early stopping, and safe (pickle-free) save/load."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from shoprec.models.two_tower import ItemFeatures, TwoTower, UserInputs

# Keras' own saving code trips NumPy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

CATEGORIES = ["Shoes/Running", "Bags/Travel", "Hats/Summer"]
WORDS = {
    "Shoes/Running": ["running", "shoe", "sneaker", "trail", "lace"],
    "Bags/Travel": ["travel", "bag", "backpack", "zip", "strap"],
    "Hats/Summer": ["summer", "hat", "cap", "brim", "sun"],
}
COLOURS = ["red", "blue", "black", "white", "green"]
HISTORY = 5
SMALL = {
    "embedding_dim": 8,
    "history_length": HISTORY,
    "user_hash_bins": 1000,
    "title_hash_bins": 1024,
    "batch_size": 128,
    "epochs": 4,
    "learning_rate": 0.01,  # tiny data, few steps: learn faster than the default
    "temperature": 0.1,
}


def make_items(n_per_category: int = 20, seed: int = 0) -> ItemFeatures:
    rng = np.random.default_rng(seed)
    ids, categories, brands, titles, prices = [], [], [], [], []
    for c, category in enumerate(CATEGORIES):
        for j in range(n_per_category):
            ids.append(f"item-{c}-{j:03d}")
            categories.append(category)
            brands.append(f"brand{c}{j % 3}")
            w = rng.choice(WORDS[category], size=3, replace=False)
            titles.append(f"{w[0].title()} {w[1]}, {rng.choice(COLOURS)} {w[2]}!")
            prices.append(int(rng.integers(0, 16)))
    return ItemFeatures(
        item_ids=np.array(ids),
        category=np.array(categories),
        top_category=np.array([c.split("/")[0] for c in categories]),
        brand=np.array(brands),
        price_bucket=np.array(prices, dtype=np.int32),
        title=np.array(titles),
    )


def category_of(items: ItemFeatures) -> np.ndarray:
    return np.array([CATEGORIES.index(c) for c in items.category])


def make_examples(items: ItemFeatures, n_users: int = 200, n_examples: int = 3000, seed: int = 1):
    """Each user prefers one category (90 % of positives, all of the history); popularity is
    Zipf-like inside a category; the last two items of each category are never trained on."""
    rng = np.random.default_rng(seed)
    cats = category_of(items)
    trained = np.ones(len(cats), dtype=bool)
    for c in range(len(CATEGORIES)):
        trained[np.flatnonzero(cats == c)[-2:]] = False
    pools = [np.flatnonzero((cats == c) & trained) for c in range(len(CATEGORIES))]
    popularity = [1.0 / np.arange(1, len(p) + 1) for p in pools]
    popularity = [p / p.sum() for p in popularity]
    preferred = np.arange(n_users) % len(CATEGORIES)
    users = rng.integers(0, n_users, size=n_examples)
    positives = np.empty(n_examples, dtype=np.int32)
    history = np.full((n_examples, HISTORY), -1, dtype=np.int32)
    for i, u in enumerate(users):
        c = preferred[u] if rng.random() < 0.9 else rng.integers(0, len(CATEGORIES))
        positives[i] = rng.choice(pools[c], p=popularity[c])
        k = rng.integers(0, HISTORY + 1)  # some rows have no history at all
        history[i, :k] = rng.choice(pools[preferred[u]], size=k, p=popularity[preferred[u]])
    users_in = UserInputs(
        user_ids=np.array([f"user-{u}" for u in users]),
        history=history,
        behaviour=rng.normal(size=(n_examples, 3)).astype(np.float32),
    )
    weights = rng.choice([1.0, 2.0], size=n_examples).astype(np.float32)
    return users_in, positives, weights, trained


@pytest.fixture(scope="module")
def data():
    items = make_items()
    users, positives, weights, trained = make_examples(items)
    return items, users, positives, weights, trained


def fit(data, **params) -> tuple[TwoTower, dict]:
    items, users, positives, weights, trained = data
    model = TwoTower(**{**SMALL, **params})
    history = model.fit(items, users, positives, weights, trained)
    return model, history


@pytest.fixture(scope="module")
def fitted(data):
    return fit(data)


def fresh_users(items: ItemFeatures, trained: np.ndarray, category: int, n: int = 10):
    """New user ids whose whole history is in one category."""
    rng = np.random.default_rng(category)
    pool = np.flatnonzero((category_of(items) == category) & trained)
    return UserInputs(
        user_ids=np.array([f"fresh-{category}-{i}" for i in range(n)]),
        history=rng.choice(pool, size=(n, HISTORY)).astype(np.int32),
        behaviour=np.zeros((n, 3), dtype=np.float32),
    )


def test_shapes_unit_norm_and_history_report(data, fitted):
    items, users, *_ = data
    model, history = fitted
    item_vectors = model.item_embeddings()
    user_vectors = model.user_embeddings(users)
    assert item_vectors.shape == (60, 8) and item_vectors.dtype == np.float32
    assert user_vectors.shape == (3000, 8) and user_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(item_vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(user_vectors, axis=1), 1.0, atol=1e-5)
    # the raw-feature tower and the training tables agree on the catalogue
    np.testing.assert_allclose(model.item_embeddings(items), item_vectors, atol=1e-6)
    assert history["device"] == "CPU" and history["mixed_precision"] is False
    assert len(history["loss"]) == 4 and history["val"] == [] and history["best_epoch"] == 3
    assert history["examples_per_second"] > 0


def test_training_loss_goes_down(fitted):
    _, history = fitted
    assert history["loss"][-1] < history["loss"][0]


def test_same_seed_same_model_other_seed_differs(data, fitted):
    model, _ = fitted
    again, _ = fit(data)
    np.testing.assert_array_equal(again.item_embeddings(), model.item_embeddings())
    np.testing.assert_array_equal(again.user_embeddings(data[1]), model.user_embeddings(data[1]))
    other, _ = fit(data, seed=7)
    assert not np.allclose(other.item_embeddings(), model.item_embeddings())


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
    model = TwoTower(**{**SMALL, "epochs": 6, "patience": 2})
    seen: list[np.ndarray] = []

    def validate(m: TwoTower) -> float:
        seen.append(m.item_embeddings())
        return 1.0 - 0.1 * len(seen)  # gets worse every epoch

    history = model.fit(items, users, positives, weights, trained, validate=validate)
    assert len(history["loss"]) == 3 and len(history["val"]) == 3
    assert history["best_epoch"] == 0
    np.testing.assert_array_equal(model.item_embeddings(), seen[0])
    assert not np.array_equal(seen[0], seen[-1])


def test_save_load_identical_and_pickle_free(data, fitted, tmp_path):
    import keras
    import tensorflow as tf

    items, users, *_ = data
    model, _ = fitted
    directory = model.save(tmp_path / "model")
    names = {p.name for p in directory.iterdir()}
    assert {"user_tower.keras", "item_tower.keras", "two_tower.json"} <= names
    assert (directory / "user_tower_savedmodel" / "saved_model.pb").is_file()
    for path in directory.rglob("*"):
        assert path.suffix not in {".pkl", ".pickle", ".joblib"}
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                for key in arrays.files:
                    assert arrays[key].dtype != object
        elif path.suffix == ".keras":
            assert zipfile.is_zipfile(path)
            keras.saving.load_model(path, safe_mode=True)

    loaded = TwoTower.load(directory)
    assert loaded.params == model.params
    np.testing.assert_allclose(
        loaded.user_embeddings(users), model.user_embeddings(users), rtol=1e-6
    )
    np.testing.assert_allclose(loaded.item_embeddings(), model.item_embeddings(), rtol=1e-6)
    np.testing.assert_allclose(
        loaded.item_embeddings(items), model.item_embeddings(items), rtol=1e-6
    )

    # the SavedModel export serves the same user vectors (what TF Serving would load)
    served = tf.saved_model.load(str(directory / "user_tower_savedmodel"))
    out = served.serve(
        {
            "user_id": tf.constant(users.user_ids[:50]),
            "history": tf.constant(users.history[:50]),
            "behaviour": tf.constant(users.behaviour[:50]),
        }
    )
    np.testing.assert_allclose(out.numpy(), model.user_embeddings(users)[:50], atol=1e-6)


def test_mixed_precision_and_random_negatives_path(data):
    """The GPU code path (mixed_float16, loss scaling) forced on CPU, with extra negatives."""
    model, history = fit(data, epochs=1, mixed_precision=True, random_negatives=32)
    assert history["mixed_precision"] is True and np.isfinite(history["loss"]).all()
    vectors = model.item_embeddings()
    assert vectors.dtype == np.float32 and np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_without_behaviour_features(data, tmp_path):
    items, users, positives, weights, trained = data
    no_behaviour = UserInputs(users.user_ids, users.history, np.zeros((len(users), 0), np.float32))
    model = TwoTower(**{**SMALL, "epochs": 1})
    model.fit(items, no_behaviour, positives, weights, trained)
    vectors = model.user_embeddings(no_behaviour)
    assert vectors.shape == (3000, 8) and np.isfinite(vectors).all()
    loaded = TwoTower.load(model.save(tmp_path / "m", export_savedmodel=False))
    assert not (tmp_path / "m" / "user_tower_savedmodel").exists()
    np.testing.assert_allclose(loaded.user_embeddings(no_behaviour), vectors, rtol=1e-6)


def test_bad_inputs_are_refused(data, fitted):
    items, users, positives, weights, trained = data
    model, _ = fitted
    bad = UserInputs(users.user_ids[:1], np.array([[60, -1, -1, -1, -1]]), users.behaviour[:1])
    with pytest.raises(ValueError, match="n_items"):
        model.user_embeddings(bad)
    with pytest.raises(ValueError, match="behaviour"):
        model.user_embeddings(UserInputs(users.user_ids, users.history, users.behaviour[:, :2]))
    with pytest.raises(ValueError, match="train_items"):
        TwoTower(**SMALL).fit(items, users, positives + 100, weights, trained)
    empty = UserInputs(np.array([], dtype=str), np.zeros((0, HISTORY), np.int32), np.zeros((0, 3)))
    assert model.user_embeddings(empty).shape == (0, 8)
    with pytest.raises(RuntimeError, match="fit or load"):
        TwoTower().item_embeddings()


def test_importing_models_package_does_not_import_tensorflow():
    code = "import sys, shoprec.models; assert 'tensorflow' not in sys.modules, 'tf imported'"
    src = Path(__file__).resolve().parents[1] / "src"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=src.parent, timeout=120)
