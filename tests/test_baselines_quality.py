"""On the default synthetic shop the data has structure: ItemKNN and EASE beat popularity."""

from __future__ import annotations

import pytest

from shoprec.config import load_params
from shoprec.data.sources import load_source
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.training.model_table import create_model
from tests.projects import REPO_ROOT

pytestmark = pytest.mark.slow


def test_itemknn_and_ease_beat_most_popular_on_the_default_synthetic_shop():
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.data.source == "synthetic"
    data = load_source(params.data)
    holdout = prepare_holdout(
        data.events, data.items, params.split, params.features, params.targets
    )
    history, targets = holdout.history, holdout.targets
    assert len(targets.user_rows) > 500
    results = {}
    for name in ("most_popular", "itemknn", "ease"):
        model = create_model(name, **getattr(params.models, name).model_dump()).fit(history)
        results[name] = evaluate_model(model, targets, [10, 20], bootstrap_samples=300)
    popular_high = results["most_popular"].intervals["ndcg@10"][1]
    for name in ("itemknn", "ease"):
        low = results[name].intervals["ndcg@10"][0]
        assert low > popular_high, (name, results[name].values["ndcg@10"])
        assert results[name].values["recall@20"] > 2 * results["most_popular"].values["recall@20"]
