"""Training the two-tower model the way the pipeline trains it (``fit_two_tower``) on a small
synthetic shop: vectors for every user and item, a loss that goes down, and a saved model that
ranks identically and beats popularity on the same split. The fit is the session's
``two_tower_fit`` (tests/conftest.py), shared with the model contract."""

from __future__ import annotations

import numpy as np
import pytest

from shoprec.evaluation.evaluate import evaluate_model
from shoprec.training.model_table import create_model, load_model

pytestmark = [
    pytest.mark.slow,  # TensorFlow
    # Keras' own saving code trips NumPy 2's copy-keyword deprecation; not ours to fix.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]


def test_every_history_user_and_catalogue_item_gets_a_finite_unit_vector(
    two_tower_shop, two_tower_fit
):
    holdout = two_tower_shop["holdout"]
    model, report, _ = two_tower_fit
    assert model.user_embeddings.shape == (holdout.history.shape[0], 16)
    assert model.item_embeddings.shape == (holdout.history.shape[1], 16)
    assert np.isfinite(model.user_embeddings).all() and np.isfinite(model.item_embeddings).all()
    np.testing.assert_allclose(np.linalg.norm(model.item_embeddings, axis=1), 1.0, rtol=1e-3)
    # items never interacted with before the test period still have (content) vectors
    never_seen = holdout.history.item_user_counts() == 0
    assert never_seen.any()
    assert (np.abs(model.item_embeddings[never_seen]).sum(axis=1) > 0).all()
    assert report["first_fit"]["loss"][-1] < report["first_fit"]["loss"][0]
    assert len(report["first_fit"]["val"]) >= 1


def test_the_saved_model_ranks_identically_and_beats_popularity(
    two_tower_shop, two_tower_fit, tmp_path
):
    holdout = two_tower_shop["holdout"]
    model, _, _ = two_tower_fit
    rows = holdout.targets.user_rows
    model.save(tmp_path / "two_tower")
    loaded = load_model(tmp_path / "two_tower")
    before, _ = model.recommend_indices(rows, 20)
    after, _ = loaded.recommend_indices(rows, 20)
    np.testing.assert_array_equal(before, after)
    assert (tmp_path / "two_tower/tower/user_tower.keras").is_file()
    # popularity, scored on the same split with the same protocol
    ours = evaluate_model(loaded, holdout.targets, [10, 20], bootstrap_samples=50).values
    popular = create_model("most_popular").fit(holdout.history)
    theirs = evaluate_model(popular, holdout.targets, [10, 20], bootstrap_samples=50).values
    for metric in ("recall@20", "ndcg@10"):
        assert ours[metric] > theirs[metric], (metric, ours[metric], theirs[metric])
