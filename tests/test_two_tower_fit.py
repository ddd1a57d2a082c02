"""The two-tower model trained on a small synthetic shop the way the pipeline trains it."""

from __future__ import annotations

import numpy as np
import pytest

from shoprec.config import FeatureParams, SplitParams, TargetParams, TwoTowerParams
from shoprec.data.synthetic import generate_shop
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import load_model
from shoprec.training.two_tower import fit_two_tower

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted():
    events, items = generate_shop(users=500, items=300, days=28, seed=5)
    targets = TargetParams()
    holdout = prepare_holdout(
        events, items, SplitParams(test_days=7, validation_days=7), FeatureParams(), targets
    )
    params = TwoTowerParams(embedding_dim=16, history_length=8, batch_size=256, epochs=3)
    inputs = TrainingInputs.from_holdout(holdout, items, targets, FeatureParams().event_weights)
    model, report, _ = fit_two_tower(inputs, params)
    return holdout, model, report


def test_every_history_user_and_catalogue_item_gets_a_finite_unit_vector(fitted):
    holdout, model, report = fitted
    assert model.user_embeddings.shape == (holdout.history.shape[0], 16)
    assert model.item_embeddings.shape == (holdout.history.shape[1], 16)
    assert np.isfinite(model.user_embeddings).all() and np.isfinite(model.item_embeddings).all()
    np.testing.assert_allclose(np.linalg.norm(model.item_embeddings, axis=1), 1.0, rtol=1e-4)
    # items never interacted with before the test period still have (content) vectors
    never_seen = holdout.history.item_user_counts() == 0
    assert never_seen.any()
    assert (np.abs(model.item_embeddings[never_seen]).sum(axis=1) > 0).all()
    assert report["first_fit"]["loss"][-1] < report["first_fit"]["loss"][0]
    assert len(report["first_fit"]["val"]) >= 1


def test_the_saved_model_ranks_identically_and_beats_popularity(fitted, tmp_path):
    holdout, model, _ = fitted
    rows = holdout.targets.user_rows
    model.save(tmp_path / "two_tower")
    loaded = load_model(tmp_path / "two_tower")
    before, _ = model.recommend_indices(rows, 20)
    after, _ = loaded.recommend_indices(rows, 20)
    np.testing.assert_array_equal(before, after)
    assert (tmp_path / "two_tower/tower/user_tower.keras").is_file()
    result = evaluate_model(loaded, holdout.targets, [10, 20], bootstrap_samples=50)
    assert result.values["recall@20"] > 0.05
