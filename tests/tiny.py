"""Tiny data for unit tests: hand-sized interaction matrices, and a small synthetic shop split
the way the pipeline splits it, with the two-stage and two-tower recipes fit on it.

The fitted models are session fixtures in ``tests/conftest.py`` (``tiny_shop``,
``two_stage_fit``, ``two_tower_fit``), so each fit happens once per test run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.config import FeatureParams, Params, SplitParams, TargetParams, TwoStageParams
from shoprec.features.interactions import Interactions
from shoprec.models.embedding import EmbeddingRecommender

# -- hand-sized matrices -----------------------------------------------------------------------


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

# -- a small synthetic shop --------------------------------------------------------------------
DEFAULTS = Params().models
WEIGHTS = FeatureParams().event_weights
TARGETS = TargetParams()
SPLIT = SplitParams(test_days=7, validation_days=7)
# the two-stage model of the unit tests: few candidates, a short boosting run
TWO_STAGE = TwoStageParams(
    candidates={"two_tower": 40, "sequential": 40, "itemknn": 40, "ease": 40, "covisit": 30},
    booster={"num_boost_round": 80, "early_stopping_rounds": 15},
)


def make_shop(users: int = 500, items: int = 300, days: int = 28, seed: int = 5) -> dict:
    """A synthetic shop split 14/7/7 days: the events, the items, the holdout and the cuts."""
    from shoprec.data.synthetic import generate_shop
    from shoprec.evaluation.holdout import prepare_holdout

    events, catalogue = generate_shop(users=users, items=items, days=days, seed=seed)
    holdout = prepare_holdout(events, catalogue, SPLIT, FeatureParams(), TARGETS)
    info = holdout.split.info
    return {
        "events": events,
        "items": catalogue,
        "holdout": holdout,
        "t1": pd.Timestamp(info["validation_start"]),
        "t2": pd.Timestamp(info["test_start"]),
    }


# leave_last_out: each user's last two targets held out, at the user's own cut times. In the
# synthetic shop a target's item is viewed just before it, so the held-out targets count only
# with repeats.
LEAVE_LAST_OUT = SplitParams(strategy="leave_last_out")
REPEATS = TargetParams(repeat_purchases=True)


def leave_last_out_shop(events: pd.DataFrame, catalogue: pd.DataFrame) -> dict:
    """``events`` split leave-last-out (per-user cuts, repeats counted), like ``make_shop``."""
    from shoprec.evaluation.holdout import prepare_holdout

    holdout = prepare_holdout(events, catalogue, LEAVE_LAST_OUT, FeatureParams(), REPEATS)
    return {"events": events, "items": catalogue, "holdout": holdout, "targets": REPEATS}


def make_leave_last_out_shop(users: int = 150, items: int = 80, days: int = 21, seed: int = 7):
    from shoprec.data.synthetic import generate_shop

    return leave_last_out_shop(*generate_shop(users=users, items=items, days=days, seed=seed))


def training_inputs(shop: dict, train=None, validation=None):
    from shoprec.training.inputs import TrainingInputs

    h = shop["holdout"]
    targets = shop.get("targets", TARGETS)
    inputs = TrainingInputs.from_holdout(h, shop["items"], targets, WEIGHTS)
    return dataclasses.replace(
        inputs,
        train=h.split.train if train is None else train,
        validation=h.split.validation if validation is None else validation,
    )


def random_two_tower(history: Interactions, seed: int) -> EmbeddingRecommender:
    """Stand-in two-tower vectors, so that the two-stage tests need no TensorFlow (the real
    model is tested in tests/models/two_tower/ and tests/training/test_two_tower.py)."""
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(history.shape[0], 8)).astype(np.float32)
    items = rng.normal(size=(history.shape[1], 8)).astype(np.float32)
    return EmbeddingRecommender.from_embeddings(history, users, items)


def random_sequential(history: Interactions, seed: int, length: int = 5):
    """Stand-in sequential vectors (no network), for two-stage tests without TensorFlow."""
    from shoprec.features.event_sequences import EventSequences
    from shoprec.models.sequential.recommender import SequentialRecommender

    rng = np.random.default_rng(seed)
    n_users, n_items = history.shape
    sequences = EventSequences(
        history.user_ids,
        np.full((n_users, length), -1, dtype=np.int32),
        np.zeros((n_users, length), dtype=np.int8),
    )
    return SequentialRecommender.from_parts(
        history,
        rng.normal(size=(n_users, 8)).astype(np.float32),
        rng.normal(size=(n_items, 8)).astype(np.float32),
        sequences,
    )


def fit_tiny_two_stage(shop: dict, train=None, validation=None, params: TwoStageParams = TWO_STAGE):
    """``fit_two_stage`` on the shop, with stand-in two-tower vectors: ``(model, report)``."""
    from shoprec.training.two_stage import fit_two_stage as fit

    h = shop["holdout"]
    return fit(
        training_inputs(shop, train, validation),
        params,
        DEFAULTS.itemknn,
        DEFAULTS.ease,
        two_tower_at_validation=random_two_tower(h.before_validation, 1),
        two_tower_at_test=random_two_tower(h.history, 2),
        sequential_at_validation=random_sequential(h.before_validation, 3),
        sequential_at_test=random_sequential(h.history, 4),
    )


def sources_at_validation(shop: dict, two_tower=None, sequential=None, client=None):
    """The two-stage candidate sources of the shop at its validation start (``build_sources``
    as ``fit_two_stage`` calls it), with the given stand-in models."""
    from shoprec.training.two_stage import build_sources

    h = shop["holdout"]
    return build_sources(
        h.before_validation,
        h.split.train,
        shop["items"],
        shop["t1"],
        TWO_STAGE,
        DEFAULTS.itemknn,
        DEFAULTS.ease,
        WEIGHTS,
        two_tower,
        sequential,
        client=client,
    )


def assert_same_snapshot(a, b) -> None:
    """Two feature snapshots hold the same arrays."""
    for key, value in a.arrays().items():
        other = b.arrays()[key]
        if sp.issparse(value):
            assert (value != other).nnz == 0, key
        else:
            np.testing.assert_array_equal(value, other, err_msg=key)
