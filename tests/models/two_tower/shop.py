"""A tiny made-up shop for the two-tower tests: three categories, users who prefer one."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from shoprec.config import TwoTowerParams
from shoprec.models.two_tower import ItemFeatures, TwoTower, UserInputs

CATEGORIES = ["Shoes/Running", "Bags/Travel", "Hats/Summer"]
WORDS = {
    "Shoes/Running": ["running", "shoe", "sneaker", "trail", "lace"],
    "Bags/Travel": ["travel", "bag", "backpack", "zip", "strap"],
    "Hats/Summer": ["summer", "hat", "cap", "brim", "sun"],
}
COLOURS = ["red", "blue", "black", "white", "green"]
HISTORY = 5
N_USERS, N_EXAMPLES = 200, 3000
TITLE_HASH_BINS = 1024
SMALL = {
    "embedding_dim": 8,
    "history_length": HISTORY,
    "user_hash_bins": 1000,
    "batch_size": 128,
    "epochs": 4,
    "learning_rate": 0.01,  # tiny data, few steps: learn faster than the default
    "temperature": 0.1,
}
GPU = bool(tf.config.list_physical_devices("GPU"))


def small_params(**overrides) -> TwoTowerParams:
    return TwoTowerParams(**{**SMALL, **overrides})


def small_model(mixed_precision: bool | None = None, **overrides) -> TwoTower:
    return TwoTower(
        small_params(**overrides),
        title_hash_bins=TITLE_HASH_BINS,
        mixed_precision=mixed_precision,
    )


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


def make_examples(
    items: ItemFeatures, n_users: int = N_USERS, n_examples: int = N_EXAMPLES, seed: int = 1
):
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


def fit(data, mixed_precision: bool | None = None, **overrides) -> tuple[TwoTower, dict]:
    items, users, positives, weights, trained = data
    model = small_model(mixed_precision=mixed_precision, **overrides)
    history = model.fit(items, users, positives, weights, trained)
    return model, history


def fresh_users(items: ItemFeatures, trained: np.ndarray, category: int, n: int = 10):
    """New user ids whose whole history is in one category."""
    rng = np.random.default_rng(category)
    pool = np.flatnonzero((category_of(items) == category) & trained)
    return UserInputs(
        user_ids=np.array([f"fresh-{category}-{i}" for i in range(n)]),
        history=rng.choice(pool, size=(n, HISTORY)).astype(np.int32),
        behaviour=np.zeros((n, 3), dtype=np.float32),
    )
