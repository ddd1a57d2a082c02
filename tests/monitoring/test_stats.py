"""The distances and the interval monitoring judges by, on hand-made data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shoprec.evaluation.profiles import numeric_summary
from shoprec.monitoring.stats import js_distance, normed_wasserstein, wilson_interval


def test_jensen_shannon_is_zero_for_the_same_shares_and_large_for_a_flipped_mix():
    mix = {"view": 800, "addtocart": 100, "purchase": 100}
    assert js_distance(mix, {"view": 8, "addtocart": 1, "purchase": 1}) == pytest.approx(0)
    flipped = {"view": 100, "addtocart": 100, "purchase": 800}
    assert js_distance(mix, flipped) == pytest.approx(js_distance(flipped, mix))
    assert js_distance(mix, flipped) > 0.4
    # a type only one side has counts, within the bound sqrt(ln 2)
    assert 0.1 < js_distance(mix, {"view": 800, "click": 200}) <= math.sqrt(math.log(2))
    with pytest.raises(ValueError):
        js_distance(mix, {})


def test_normed_wasserstein_is_zero_for_the_same_sample_and_the_shift_in_deviations():
    x = np.random.default_rng(0).normal(10.0, 2.0, 5000)
    reference = numeric_summary(x)
    assert normed_wasserstein(reference, x) == pytest.approx(0, abs=1e-12)
    # every value moved by one standard deviation: a distance of 1
    assert normed_wasserstein(reference, x + reference["std"]) == pytest.approx(1.0)
    assert normed_wasserstein(reference, x * 1.01) < 0.1 < normed_wasserstein(reference, x * 1.3)
    constant = numeric_summary(np.ones(10))  # no spread: normed by the floor, not by 0
    assert np.isfinite(normed_wasserstein(constant, np.ones(10) * 2))


def test_the_wilson_interval_holds_the_share_and_narrows_with_more_trials():
    low, high = wilson_interval(0, 100)
    assert low == pytest.approx(0, abs=1e-12)
    assert high == pytest.approx(1.96**2 / (100 + 1.96**2), rel=1e-3)  # the zero-success bound
    low, high = wilson_interval(30, 100)
    assert low < 0.3 < high
    assert (low, high) == pytest.approx((0.2189, 0.3958), abs=1e-3)  # by hand
    wide, narrow = wilson_interval(3, 10), wilson_interval(300, 1000)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson_interval(0, 0) == (0.0, 1.0)
