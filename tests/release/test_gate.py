"""The evaluation gate on real models: floors, lift over the baselines and over the champion
(paired bootstrap), size and latency."""

from __future__ import annotations

import json

import pytest

from shoprec.config import FeatureParams, GateParams, SplitParams, TargetParams
from shoprec.data.synthetic import generate_shop
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.release.gate import run_gate
from shoprec.training.model_table import create_model


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    events, items = generate_shop(users=400, items=200, days=28, seed=9)
    holdout = prepare_holdout(
        events,
        items,
        SplitParams(test_days=7, validation_days=7),
        FeatureParams(),
        TargetParams(),
    )
    folder = tmp_path_factory.mktemp("models")
    models, metrics = {}, {}
    for name in ("most_popular", "itemknn"):
        models[name] = create_model(name).fit(holdout.history)
        models[name].save(folder / name)
        metrics[name] = evaluate_model(models[name], holdout.targets, [10, 20], 50).values
    return holdout, models, metrics, folder


def gate_for(world, champion=None, **settings):
    holdout, models, metrics, folder = world
    return run_gate(
        "itemknn",
        models["itemknn"],
        folder / "itemknn",
        holdout.targets,
        holdout.history,
        metrics,
        ["most_popular"],
        GateParams(model="itemknn", **settings),
        champion,
        champion_version=1 if champion is not None else None,
    )


def test_a_model_that_beats_the_baselines_passes_without_a_champion(world):
    result = gate_for(world)
    assert result.passed, result.reasons
    names = [c.name for c in result.checks]
    assert "lift over the best baseline (most_popular)" in names
    assert json.loads(json.dumps(result.as_dict()))["passed"] is True
    assert "PASSED" in result.markdown()


def test_a_floor_above_the_model_stops_it_and_says_which(world):
    result = gate_for(world, floors={"ndcg@10": 0.99})
    assert not result.passed
    assert any(
        "ndcg@10" in reason and "below the floor 0.99" in reason for reason in result.reasons
    )


def test_a_challenger_no_better_than_the_champion_is_stopped(world):
    _, models, _, _ = world
    result = gate_for(world, champion=models["itemknn"])
    assert not result.passed
    (reason,) = result.reasons
    assert "lift over production (v1)" in reason and "paired difference +0.0000" in reason


def test_beating_the_champion_significantly_passes(world):
    _, models, _, _ = world
    result = gate_for(world, champion=models["most_popular"])
    assert result.passed, result.reasons
    check = next(c for c in result.checks if c.name.startswith("lift over production"))
    assert check.value > 0 and "CI +" in check.detail
    # the paired bootstrap is also a record, so nobody has to parse the sentence
    paired = json.loads(json.dumps(result.as_dict()))["checks"][result.checks.index(check)]
    assert 0 < paired["paired"]["low"] <= paired["paired"]["diff"] <= paired["paired"]["high"]
    assert f"{paired['paired']['diff']:+.4f}" in check.detail
    assert all("paired" not in c for c in result.as_dict()["checks"] if c["name"] != check.name)


def test_size_and_latency_limits_are_enforced(world):
    result = gate_for(world, max_model_mb=1e-6, max_latency_ms=1e-6)
    failed = {c.name for c in result.checks if not c.passed}
    assert failed == {"model size (MB)", "recommend() p95 latency (ms)"}
