"""The whole-batch statistics of accepted events that are spread over run files.

``batch_view``: the frame the batch-level expectations are run on. Great Expectations has no
engine for partitioned pandas data, and a batch rule (row count, event-type mix, median items
per user) is a statistic of the whole batch, so the view holds every accepted row but only the
columns those rules read (from the suite: ``column``, ``column_A``/``column_B``,
``column_list``); the other columns are there as Arrow null arrays, which take no memory, so
that schema rules see the table's real columns. With the shipped suite that is ``event_type``
and ``user_distinct_items``: about 17 bytes per accepted event.

``profile_of``: the ``BatchProfile`` from combined partial counts alone (rows per event type,
the accepted rows and distinct items of each user), equal to ``BatchProfile.of`` on the whole
table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shoprec.data.partitions import read_run
from shoprec.data.schema import EVENT_COLUMNS, EVENT_OPTIONAL_COLUMNS
from shoprec.validation.baseline import BatchProfile
from shoprec.validation.run_checks import DERIVED, derive_events
from shoprec.validation.suites import level_of

_COLUMN_KEYS = ("column", "column_A", "column_B")


def batch_columns(suite: dict[str, Any]) -> set[str]:
    """The columns the suite's batch-level expectations read."""
    columns: set[str] = set()
    for expectation in suite["expectations"]:
        if level_of(expectation) != "batch":
            continue
        kwargs = expectation.get("kwargs") or {}
        columns |= {kwargs[k] for k in _COLUMN_KEYS if isinstance(kwargs.get(k), str)}
        columns |= {c for c in kwargs.get("column_list") or [] if isinstance(c, str)}
    return columns


def batch_view(
    accepted_paths: Sequence[str],
    columns: list[str],
    suite: dict[str, Any],
    totals: pd.DataFrame,
    null_users: bool,
) -> pd.DataFrame:
    """The accepted events as ``validate_batch`` derives them (``columns`` + the derived
    columns, same order and dtypes), with real values only in the columns batch rules read."""
    everything = [*columns, *DERIVED]
    needed = batch_columns(suite) & set(everything)
    derived = tuple(c for c in DERIVED if c in needed)
    read = needed - set(DERIVED)
    if {"user_event_count", "user_distinct_items"} & needed:
        read |= {"user_id", "item_id"}
    if "is_repeat_row" in needed:
        read |= {c for c in (*EVENT_COLUMNS, *EVENT_OPTIONAL_COLUMNS) if c in columns}
    read_columns = [c for c in columns if c in read]
    parts = []
    for path in accepted_paths:
        run = read_run([path], columns=read_columns).drop(columns="row_position")
        if derived:
            run = derive_events(run, totals, null_users, derived)
        parts.append(run[[c for c in everything if c in needed]])
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    rows = len(frame)
    nothing = pd.ArrowDtype(pa.null())
    return pd.DataFrame(
        {
            c: frame[c] if c in needed else pd.Series(pa.nulls(rows), dtype=nothing)
            for c in everything
        }
    )


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of ``values[i]`` repeated ``weights[i]`` times (``np.median``'s rule:
    the mean of the two middle values of an even count)."""
    total = int(weights.sum())
    if total == 0:
        return 0.0
    order = np.argsort(values, kind="stable")
    ends = np.cumsum(weights[order])
    low = values[order][np.searchsorted(ends, (total - 1) // 2, side="right")]
    high = values[order][np.searchsorted(ends, total // 2, side="right")]
    return float((np.float64(low) + np.float64(high)) / 2)


def profile_of(
    event_types: pd.Series,
    totals: pd.DataFrame,
    events_rows: int,
    items_rows: int,
    source_key: str,
) -> BatchProfile:
    """``BatchProfile.of`` from combined counts: ``event_types`` (rows per type) and
    ``totals`` (accepted ``events`` and distinct ``items`` per user)."""
    counts = event_types.astype("int64")
    shares = (counts / counts.sum()).sort_index()
    median = weighted_median(
        totals["items"].to_numpy(dtype=np.int64), totals["events"].to_numpy(dtype=np.int64)
    )
    return BatchProfile(
        source_key=source_key,
        events_rows=events_rows,
        items_rows=items_rows,
        event_mix={str(k): round(float(v), 6) for k, v in shares.items()},
        median_items_per_user=median,
    )


__all__ = ["batch_columns", "batch_view", "profile_of", "weighted_median"]
