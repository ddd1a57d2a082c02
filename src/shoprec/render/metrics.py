"""The metrics table: one row per model, each value with its bootstrap interval.

Built from ``metrics/evaluation.json`` (model → metric → value) and
``metrics/confidence_intervals.json`` (model → metric → ``[low, high]``), as the evaluate
stage writes them. A value is ``0.1234``, its interval `` [0.1000, 0.1500]`` (the same four
decimals), a missing value ``—``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shoprec.render.table import Column, Table, cell

DEFAULT_COLUMNS = (
    "ndcg@10",
    "recall@20",
    "precision@10",
    "hitrate@10",
    "mrr@10",
    "coverage@10",
    "novelty@10",
)
TITLE = "Test metrics (full ranking; 95% bootstrap interval over users)"
MISSING = "—"


def value_text(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def interval_text(interval: Sequence[float | None] | None) -> str:
    """``[0.0100, 0.0200]``, or "" when there is no interval (or a bound is missing)."""
    if not interval or len(interval) != 2 or any(b is None for b in interval):
        return ""
    low, high = interval
    return f"[{low:.4f}, {high:.4f}]"


def metrics_table(
    metrics: Mapping[str, Mapping[str, float | None]],
    intervals: Mapping[str, Mapping[str, Sequence[float | None]]] | None = None,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    title: str = TITLE,
) -> Table:
    """Only the ``columns`` that some model has are shown, in that order."""
    intervals = intervals or {}
    present = [c for c in columns if any(c in m for m in metrics.values())]
    rows = []
    for model, values in metrics.items():
        cells = [cell(model)]
        for column in present:
            value = values.get(column)
            interval = interval_text(intervals.get(model, {}).get(column))
            if value is not None and interval:
                cells.append(cell(value_text(value), (f" {interval}", "muted")))
            else:
                cells.append(cell(value_text(value)))
        rows.append(cells)
    return Table(
        title=cell(title),
        columns=[Column("model", key=True), *(Column(c, numeric=True) for c in present)],
        rows=rows,
    )
