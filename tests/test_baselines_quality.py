"""On the default synthetic shop the data has structure: ItemKNN and EASE beat popularity."""

from __future__ import annotations

import pandas as pd
import pytest

from shoprec.config import load_params
from shoprec.data.sources import load_source
from shoprec.data.split import temporal_split
from shoprec.evaluation.evaluate import build_targets, evaluate_model
from shoprec.features.interactions import build_interactions
from shoprec.models import create_model
from tests.projects import REPO_ROOT

pytestmark = pytest.mark.slow


def test_itemknn_and_ease_beat_most_popular_on_the_default_synthetic_shop():
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.data.source == "synthetic"
    data = load_source(params.data)
    split = temporal_split(data.events, params.split.test_days, params.split.validation_days)
    history = build_interactions(
        pd.concat([split.train, split.validation]),
        data.items["item_id"],
        params.features.event_weights,
        params.features.transform,
    )
    e = params.evaluation
    targets = build_targets(split.test, history, e.relevant_event_types, e.repeat_purchases)
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
