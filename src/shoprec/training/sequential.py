"""Train the sequential model on the split, the way the pipeline and the benchmarks do.

1. Fit on each user's events before their validation cut (the train part, under either split
   strategy), in windows of ``max_length + 1`` events; after each epoch, rank for the users
   with a validation target from their train sequence, with the project's own metrics, and
   keep the epoch with the best NDCG@K.
2. With ``refit``, train again on train + validation for the best number of epochs, so the
   model knows everything before each user's test cut, as the baselines do.
3. Every user of the before-test history gets a vector from their last events before the
   test cut; the first fit's users, at their validation cut, are what the two-stage ranker
   learns from.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from shoprec.config import SequentialParams
from shoprec.evaluation.evaluate import build_targets, evaluate_ranking
from shoprec.features.event_sequences import (
    EVENT_CODES,
    EventSequences,
    training_windows,
    user_sequences,
)
from shoprec.features.interactions import Interactions
from shoprec.features.sequences import item_features
from shoprec.models.base import top_k
from shoprec.models.sequential.recommender import SequentialRecommender
from shoprec.training.inputs import TrainingInputs

log = logging.getLogger(__name__)


def _network(params: SequentialParams):
    from shoprec.models.sequential.model import SASRec

    return SASRec(params)


def code_weights(event_weights: dict[str, float]) -> np.ndarray:
    """Target weight per event code (index 0, padding, weighs 0)."""
    out = np.zeros(len(EVENT_CODES) + 1, dtype=np.float32)
    for name, code in EVENT_CODES.items():
        out[code] = float(event_weights.get(name, 0.0))
    return out


def _weighted_types(event_weights: dict[str, float]) -> list[str]:
    return [t for t, w in event_weights.items() if w > 0]


def ndcg_scorer(sequences: EventSequences, targets, history: Interactions, k: int):
    """A callback: NDCG@k of the model's current vectors on ``targets`` (seen items masked)."""
    seen = history.matrix[targets.user_rows]
    seen_rows, seen_cols = seen.nonzero()
    popularity, n_users = history.item_user_counts(), history.shape[0]

    def score(model) -> float:
        scores = model.user_vectors(sequences) @ model.item_vectors().T
        scores[seen_rows, seen_cols] = -np.inf
        recommended, _ = top_k(scores, k)
        result = evaluate_ranking(
            recommended, targets, [k], popularity, n_users, bootstrap_samples=1
        )
        return result.values[f"ndcg@{k}"]

    return score


def fit_sequential(
    inputs: TrainingInputs, params: SequentialParams
) -> tuple[SequentialRecommender, dict[str, Any], SequentialRecommender]:
    """Fit, early-stop, refit; the ranking model at the test cut, a report, and the first
    fit's model at the validation cut."""
    before_validation, before_test = inputs.before_validation, inputs.before_test
    catalogue = before_test.item_ids
    content = item_features(inputs.items, catalogue, params.n_price_buckets)
    types = _weighted_types(inputs.event_weights)
    weights = code_weights(inputs.event_weights)
    skip_repeats = not inputs.targets.repeat_purchases
    L = params.max_length
    report: dict[str, Any] = {}

    windows = training_windows(inputs.train, catalogue, L, types, params.max_windows_per_user)
    targets = build_targets(
        inputs.validation,
        before_validation,
        inputs.targets.relevant_event_types,
        inputs.targets.repeat_purchases,
    )
    validate = None
    if len(targets.user_rows):
        states = user_sequences(
            inputs.train, before_validation.user_ids[targets.user_rows], catalogue, L, types
        )
        validate = ndcg_scorer(states, targets, before_validation, params.early_stopping_k)
    log.info(
        "sequential: %d training windows, %d validation users, %d items",
        len(windows),
        len(targets.user_rows),
        len(catalogue),
    )
    started = time.perf_counter()
    model = _network(params)
    report["first_fit"] = model.fit(content, windows, weights, skip_repeats, validate)
    report["validation_users"] = len(targets.user_rows)
    best_epochs = report["first_fit"]["best_epoch"] + 1
    at_validation_states = user_sequences(
        inputs.train, before_validation.user_ids, catalogue, L, types
    )
    at_validation = SequentialRecommender.from_parts(
        before_validation,
        model.user_vectors(at_validation_states),
        model.item_vectors(),
        at_validation_states,
        **params.model_dump(),
    )
    history_events = pd.concat([inputs.train, inputs.validation], ignore_index=True)
    if params.refit:
        windows = training_windows(history_events, catalogue, L, types, params.max_windows_per_user)
        model = _network(params)
        report["refit"] = model.fit(content, windows, weights, skip_repeats, epochs=best_epochs)
    report["training_seconds"] = round(time.perf_counter() - started, 2)
    report["epochs_used"] = best_epochs
    final_states = user_sequences(history_events, before_test.user_ids, catalogue, L, types)
    recommender = SequentialRecommender.from_parts(
        before_test,
        model.user_vectors(final_states),
        model.item_vectors(),
        final_states,
        network=model,
        **params.model_dump(),
    )
    return recommender, report, at_validation
