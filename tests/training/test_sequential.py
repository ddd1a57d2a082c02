"""Training the sequential model on a split: early stopping, the refit, the two cuts."""

from __future__ import annotations

import numpy as np
import pytest

from shoprec.evaluation.evaluate import evaluate_model
from shoprec.training.model_table import create_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]


def test_the_report_tells_the_fit_and_the_refit(sequential_fit):
    _, report, _ = sequential_fit
    first = report["first_fit"]
    assert len(first["val"]) == first["epochs_run"] == len(first["loss"])
    assert report["epochs_used"] == first["best_epoch"] + 1
    assert report["refit"]["epochs_run"] == report["epochs_used"]
    assert first["loss"][-1] < first["loss"][0]
    assert first["device"] in {"CPU", "GPU"}


def test_the_two_models_sit_at_the_two_cuts(sequential_fit, tiny_shop):
    model, _, at_validation = sequential_fit
    holdout = tiny_shop["holdout"]
    assert np.array_equal(model.history.user_ids, holdout.history.user_ids)
    assert np.array_equal(at_validation.history.user_ids, holdout.before_validation.user_ids)
    # the refit knows the validation period: some user's last event differs between the two
    rows = at_validation.history.user_positions(model.history.user_ids)
    known = rows >= 0
    assert not np.array_equal(
        model.sequence_items[known], at_validation.sequence_items[rows[known]]
    )


def test_it_ranks_better_than_popularity_on_the_tiny_shop(sequential_fit, tiny_shop):
    model, _, _ = sequential_fit
    holdout = tiny_shop["holdout"]
    popular = create_model("most_popular").fit(holdout.history)
    ours = evaluate_model(model, holdout.targets, [20], bootstrap_samples=1).values
    theirs = evaluate_model(popular, holdout.targets, [20], bootstrap_samples=1).values
    assert ours["recall@20"] > theirs["recall@20"]
