"""Train the two-tower model on the split, the way the pipeline and the benchmarks do.

1. Fit on events before the validation period; after each epoch, score validation users
   (their state at their validation start) with the project's own metric code and stop early
   on Recall@K.
2. With ``refit``, train again on train + validation events for the best number of epochs,
   so that the model knows the weeks just before the test period as the baselines do.
3. Embed every catalogue item (items never seen in training are placed by their content)
   and every user of the before-test history at their test start.

"The validation start" and "the test start" are each user's own (``inputs.cuts``): one moment
for everybody with ``split.strategy: temporal``, the times of the user's held-out validation
and test targets with ``leave_last_out``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from shoprec.config import TwoTowerParams
from shoprec.evaluation.evaluate import TestTargets, build_targets, evaluate_ranking
from shoprec.features.interactions import Interactions
from shoprec.features.sequences import item_features, training_examples, user_states
from shoprec.models.base import top_k
from shoprec.models.embedding import EmbeddingRecommender
from shoprec.training.inputs import TrainingInputs

log = logging.getLogger(__name__)


def _tower(params: TwoTowerParams, epochs: int | None = None):
    from shoprec.models.two_tower import TwoTower

    if epochs is not None:
        params = TwoTowerParams(**{**params.model_dump(), "epochs": epochs})
    return TwoTower(params)


def _validation_scorer(
    targets: TestTargets,
    history: Interactions,
    states,
    items,
    k: int,
):
    """A callback: Recall@k of the model's current vectors on the validation targets."""
    seen = history.matrix[targets.user_rows]
    seen_rows, seen_cols = seen.nonzero()

    def score(model) -> float:
        users = model.user_embeddings(states)
        scores = users @ model.item_embeddings(items).T
        scores[seen_rows, seen_cols] = -np.inf
        recommended, _ = top_k(scores, k)
        result = evaluate_ranking(
            recommended,
            targets,
            [k],
            history.item_user_counts(),
            history.shape[0],
            bootstrap_samples=1,
        )
        return result.values[f"recall@{k}"]

    return score


def fit_two_tower(
    inputs: TrainingInputs, params: TwoTowerParams
) -> tuple[EmbeddingRecommender, dict[str, Any], EmbeddingRecommender]:
    """Fit, early-stop, refit and embed.

    Returns the ranking model (users at their test start, after the refit), a training report,
    and the first fit's model over the before-validation history with its users embedded at
    their validation start (the two-stage ranker is trained there).
    """
    train, validation, items = inputs.train, inputs.validation, inputs.items
    before_validation, before_test = inputs.before_validation, inputs.before_test
    cuts = inputs.cuts
    # each user's own window, whatever the caller passes: train before the validation start,
    # validation in [validation start, test start)
    train = train[cuts.before_validation(train)]
    validation = validation[cuts.in_validation(validation)]
    event_weights = inputs.event_weights
    relevant_event_types = inputs.targets.relevant_event_types
    repeat_purchases = inputs.targets.repeat_purchases
    catalogue = before_test.item_ids
    content = item_features(items, catalogue, params.n_price_buckets)
    L = params.history_length
    report: dict[str, Any] = {}

    users, positives, weights = training_examples(train, catalogue, event_weights, L)
    trained = np.zeros(len(catalogue), dtype=bool)
    trained[positives] = True
    targets = build_targets(validation, before_validation, relevant_event_types, repeat_purchases)
    validate = None
    if len(targets.user_rows):
        ids = before_validation.user_ids[targets.user_rows]
        states = user_states(train, ids, cuts.validation_at(ids), catalogue, L)
        validate = _validation_scorer(
            targets, before_validation, states, content, params.early_stopping_k
        )
    log.info(
        "two-tower: %d training examples, %d validation users",
        len(positives),
        len(targets.user_rows),
    )
    started = time.perf_counter()
    model = _tower(params)
    history = model.fit(content, users, positives, weights, trained, validate=validate)
    report["first_fit"] = history
    report["validation_users"] = len(targets.user_rows)
    best_epochs = int(history.get("best_epoch", params.epochs - 1)) + 1
    # The first fit's view at the validation start: what the two-stage ranker learns from.
    ids = before_validation.user_ids
    at_validation = EmbeddingRecommender.from_embeddings(
        before_validation,
        model.user_embeddings(user_states(train, ids, cuts.validation_at(ids), catalogue, L)),
        model.item_embeddings(content),
        **params.model_dump(),
    )

    history_events = pd.concat([train, validation], ignore_index=True)
    if params.refit:
        users, positives, weights = training_examples(history_events, catalogue, event_weights, L)
        trained = np.zeros(len(catalogue), dtype=bool)
        trained[positives] = True
        model = _tower(params, epochs=best_epochs)
        report["refit"] = model.fit(content, users, positives, weights, trained, validate=None)
    report["training_seconds"] = round(time.perf_counter() - started, 2)
    report["epochs_used"] = best_epochs
    report["items_seen_in_training"] = int(trained.sum())

    ids = before_test.user_ids
    final_states = user_states(history_events, ids, cuts.test_at(ids), catalogue, L)
    recommender = EmbeddingRecommender.from_embeddings(
        before_test,
        model.user_embeddings(final_states),
        model.item_embeddings(content),
        tower=model,
        **params.model_dump(),
    )
    return recommender, report, at_validation
