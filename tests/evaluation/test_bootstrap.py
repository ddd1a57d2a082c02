"""Bootstrap confidence intervals: coverage, width, shared resamples, determinism, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shoprec.evaluation import bootstrap as bootstrap_module
from shoprec.evaluation.bootstrap import bootstrap_ci, mean_and_ci
from shoprec.evaluation.metrics import (
    hits_matrix,
    relevant_counts,
    user_metrics,
)
from tests.evaluation.cases import random_case, targets_from_sets


def test_bootstrap_contains_mean_and_shape():
    recommended, relevant = random_case(3)
    targets = targets_from_sets(relevant, 50)
    per_user = user_metrics(hits_matrix(recommended, targets), relevant_counts(targets), [5, 10])
    cis = bootstrap_ci(per_user, samples=500, seed=1)
    summary = mean_and_ci(per_user, samples=500, seed=1)
    assert list(cis) == list(per_user)
    for name, values in per_user.items():
        low, high = cis[name]
        assert low <= values.mean() <= high
        assert summary[name] == {"value": pytest.approx(values.mean()), "low": low, "high": high}


def test_bootstrap_narrows_with_more_users():
    rng = np.random.default_rng(0)
    small = bootstrap_ci({"x": rng.normal(size=100)}, samples=500)["x"]
    large = bootstrap_ci({"x": rng.normal(size=10_000)}, samples=500)["x"]
    # the width scales like 1/sqrt(n): about 10 times narrower
    assert (large[1] - large[0]) < (small[1] - small[0]) / 5


def test_bootstrap_width_matches_normal_theory():
    # For a mean of n normal values the 95% interval is about +-1.96 sd / sqrt(n).
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 3.0, size=2000)
    low, high = bootstrap_ci({"x": x}, samples=2000, seed=2)["x"]
    expected = 2 * 1.96 * x.std() / math.sqrt(x.size)
    assert high - low == pytest.approx(expected, rel=0.1)


def test_bootstrap_is_deterministic_by_seed():
    rng = np.random.default_rng(0)
    per_user = {"a": rng.random(300), "b": rng.random(300)}
    assert bootstrap_ci(per_user, seed=7) == bootstrap_ci(per_user, seed=7)
    assert bootstrap_ci(per_user, seed=7) != bootstrap_ci(per_user, seed=8)


def test_bootstrap_uses_the_same_resamples_for_every_metric():
    rng = np.random.default_rng(1)
    a = rng.random(400)
    both = bootstrap_ci({"a": a, "b": 2 * a + 1}, samples=300, seed=3)
    # b is an increasing affine map of a, so with shared resamples its interval is mapped too
    assert both["b"][0] == pytest.approx(2 * both["a"][0] + 1)
    assert both["b"][1] == pytest.approx(2 * both["a"][1] + 1)
    # and a metric's interval does not depend on which other metrics came with it
    alone = bootstrap_ci({"a": a}, samples=300, seed=3)
    assert alone["a"] == pytest.approx(both["a"])


def test_bootstrap_chunks(monkeypatch):
    # Force a chunk of 3 resamples at a time: same kind of answer as one big chunk.
    rng = np.random.default_rng(2)
    x = rng.random(500)
    whole = bootstrap_ci({"x": x}, samples=200, seed=4)["x"]
    monkeypatch.setattr(bootstrap_module, "_CHUNK_BYTES", 3 * 24 * 500)
    chunked = bootstrap_ci({"x": x}, samples=200, seed=4)["x"]
    assert chunked[0] <= x.mean() <= chunked[1]
    assert chunked == pytest.approx(whole, abs=0.01)


def test_bootstrap_constant_metric_has_zero_width():
    per_user = {"c": np.full(50, 0.1), "hit": np.ones(50)}
    cis = bootstrap_ci(per_user)
    assert cis == {"c": (0.1, 0.1), "hit": (1.0, 1.0)}
    assert mean_and_ci(per_user)["c"] == {"value": 0.1, "low": 0.1, "high": 0.1}


def test_bootstrap_covers_true_mean():
    # 200 experiments of 300 Bernoulli(0.3) users: a 95% interval should cover 0.3 in
    # roughly 95% of them (binomial sd of the rate ~1.5 points).
    rng = np.random.default_rng(11)
    covered = 0
    trials = 200
    for t in range(trials):
        x = (rng.random(300) < 0.3).astype(float)
        low, high = bootstrap_ci({"x": x}, samples=500, seed=t)["x"]
        covered += low <= 0.3 <= high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_value_errors():
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci({})
    with pytest.raises(ValueError, match="same users"):
        bootstrap_ci({"a": np.ones(3), "b": np.ones(4)})
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci({"a": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match="no users"):
        bootstrap_ci({"a": np.array([])})
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_ci({"a": np.ones((2, 2))})
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci({"a": np.ones(3)}, confidence=1.0)
    with pytest.raises(ValueError, match="samples"):
        bootstrap_ci({"a": np.ones(3)}, samples=0)
