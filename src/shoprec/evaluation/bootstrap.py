"""Percentile bootstrap confidence intervals over users.

Every metric is resampled with the same user resamples: one bootstrap sample is a
multiset of users drawn with replacement, and each metric's resampled mean is taken over
that same multiset. The resamples are drawn as a ``(samples, n_users)`` matrix of counts
(how often each user was drawn), in chunks of bounded memory, and all resampled means come
from one matrix product of those counts with the ``(n_users, n_metrics)`` value matrix.

To compare two models on the same users, bootstrap the per-user difference
(``{"ndcg@10": a - b}``): the interval of the difference accounts for the pairing.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

__all__ = ["bootstrap_ci", "mean_and_ci"]

#: Scratch memory per chunk of resamples (draws, counts and their float copy).
_CHUNK_BYTES = 96 * 1024 * 1024
_BYTES_PER_CELL = 24


def _value_matrix(per_user: Mapping[str, np.ndarray]) -> tuple[list[str], NDArray[np.float64]]:
    if not per_user:
        raise ValueError("per_user is empty: give at least one metric")
    names = list(per_user)
    columns = []
    n_users: int | None = None
    for name in names:
        col = np.asarray(per_user[name])
        if col.ndim != 1:
            raise ValueError(f"{name}: per-user values must be 1-D, got shape {col.shape}")
        if n_users is None:
            n_users = col.shape[0]
        elif col.shape[0] != n_users:
            raise ValueError(
                f"{name}: has {col.shape[0]} users but {names[0]} has {n_users}; "
                "all metrics must be over the same users"
            )
        col = col.astype(np.float64)
        if not np.all(np.isfinite(col)):
            raise ValueError(f"{name}: per-user values must be finite (found NaN or inf)")
        columns.append(col)
    if not n_users:
        raise ValueError("per-user values are empty: there are no users to resample")
    return names, np.column_stack(columns)


def _check_params(samples: int, confidence: float) -> int:
    samples = operator.index(samples)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return samples


def _resampled_means(values: NDArray[np.float64], samples: int, seed: int) -> NDArray[np.float64]:
    """``(samples, n_metrics)`` means of ``values`` over bootstrap resamples of its rows."""
    n_users = values.shape[0]
    rng = np.random.default_rng(seed)
    mean = values.mean(axis=0)
    centred = values - mean  # keeps the sums small, so rounding does not blur the interval
    chunk = max(1, min(samples, _CHUNK_BYTES // (_BYTES_PER_CELL * n_users)))
    out = np.empty((samples, values.shape[1]))
    for start in range(0, samples, chunk):
        rows = min(chunk, samples - start)
        draws = rng.integers(0, n_users, size=(rows, n_users))
        draws += np.arange(rows, dtype=draws.dtype)[:, None] * n_users
        counts = np.bincount(draws.ravel(), minlength=rows * n_users).reshape(rows, n_users)
        del draws
        out[start : start + rows] = counts.astype(np.float64) @ centred
    out /= n_users
    out += mean
    return out


def _intervals(
    per_user: Mapping[str, np.ndarray], samples: int, confidence: float, seed: int
) -> dict[str, tuple[float, float, float]]:
    samples = _check_params(samples, confidence)
    names, values = _value_matrix(per_user)
    means = values.mean(axis=0)
    boot = _resampled_means(values, samples, seed)
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    constant = np.all(values == values[0], axis=0)
    out: dict[str, tuple[float, float, float]] = {}
    for j, name in enumerate(names):
        if constant[j]:  # exactly zero width, whatever the rounding
            c = float(values[0, j])
            out[name] = (c, c, c)
        else:
            out[name] = (float(means[j]), float(low[j]), float(high[j]))
    return out


def bootstrap_ci(
    per_user: Mapping[str, np.ndarray],
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of the mean of each per-user metric.

    ``per_user`` maps metric names to 1-D arrays over the same users (e.g. the output of
    ``user_metrics`` and ``novelty``). Users are resampled with replacement ``samples``
    times, with the same resamples for every metric; the interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (linear interpolation)
    of the resampled means. A metric that is the same for every user gets a zero-width
    interval. Deterministic for a given ``seed`` and number of users; the interval of a
    metric does not depend on which other metrics are passed with it.

    Returns ``{metric: (low, high)}``. Raises ``ValueError`` on empty input, arrays of
    different lengths, non-finite values, ``samples < 1`` or ``confidence`` outside (0, 1).
    """
    return {
        name: (low, high)
        for name, (_, low, high) in _intervals(per_user, samples, confidence, seed).items()
    }


def mean_and_ci(
    per_user: Mapping[str, np.ndarray],
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """``{metric: {"value": mean over users, "low": ..., "high": ...}}``, as ``bootstrap_ci``."""
    return {
        name: {"value": value, "low": low, "high": high}
        for name, (value, low, high) in _intervals(per_user, samples, confidence, seed).items()
    }
