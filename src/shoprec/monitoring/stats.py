"""The distances and the interval monitoring judges by, written out (Evidently cannot be used).

Evidently 0.7 does not import with pandas 3, which this project is locked on, so the two
statistics its ``DataDriftPreset`` uses by default for large samples are implemented here with
NumPy/SciPy, with its threshold of 0.1: the Jensen-Shannon distance for categorical columns
and the Wasserstein distance normed by the reference's standard deviation for numerical ones.
The followed share of impressions gets a Wilson score interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.spatial import distance
from scipy.stats import norm

from shoprec.evaluation.profiles import quantile_levels

EMPTY_SHARE = 0.0001  # a category absent on one side (as Evidently fills zeros)
MIN_NORM = 0.001  # the smallest standard deviation a Wasserstein distance is normed by


def js_distance(reference: Mapping[str, float], current: Mapping[str, float]) -> float:
    """Jensen-Shannon distance (natural log, as Evidently and SciPy compute it; 0 for the same
    shares, at most sqrt(ln 2) ≈ 0.83) between two count tables over the union of their keys."""
    keys = sorted(set(reference) | set(current))
    ref = np.array([float(reference.get(k, 0)) for k in keys])
    cur = np.array([float(current.get(k, 0)) for k in keys])
    if ref.sum() <= 0 or cur.sum() <= 0:
        raise ValueError("a distribution with no counts has no distance")
    ref, cur = ref / ref.sum(), cur / cur.sum()
    ref, cur = np.where(ref > 0, ref, EMPTY_SHARE), np.where(cur > 0, cur, EMPTY_SHARE)
    return float(distance.jensenshannon(ref, cur))


def normed_wasserstein(reference: Mapping, current: np.ndarray) -> float:
    """Wasserstein-1 distance between the reference (``numeric_summary``: its quantiles) and
    the sample ``current``, divided by the reference's standard deviation (at least
    ``MIN_NORM``). Both sides are taken at the same quantile levels, so W1 is the mean gap
    between the two quantile functions, and the same data give exactly 0."""
    quantiles = np.asarray(reference["quantiles"], dtype=np.float64)
    sample = np.asarray(current, dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    if quantiles.size == 0 or sample.size == 0:
        raise ValueError("an empty distribution has no distance")
    mine = np.quantile(sample, quantile_levels(quantiles.size))
    return float(np.mean(np.abs(quantiles - mine)) / max(float(reference["std"]), MIN_NORM))


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial share (good near 0 and 1, where followed
    shares live, unlike the normal approximation); ``(0, 1)`` with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + level / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return max(0.0, centre - half), min(1.0, centre + half)
