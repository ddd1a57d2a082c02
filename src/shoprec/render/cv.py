"""The cross-validation table: each metric per fold and model, and the spread across folds.

Built from ``metrics/cv.json`` (stage ``cv``): ``{"folds": {k: {"window", "test_users",
"metrics": {model: {metric: value}}}}, "summary": {model: {metric: {"mean", "std", "min",
"folds"}}}}``. One row per fold and model, then one spread row per model (mean ± std, min).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shoprec.render.metrics import value_text
from shoprec.render.table import Cell, Column, Table, cell

DEFAULT_COLUMNS = ("ndcg@10", "recall@20")
TITLE = "Cross-validation folds (full ranking, each fold fit on data before its own cuts)"
NO_FOLDS = "no cross-validation folds in this file"


def fold_label(k: str, fold: Mapping[str, Any]) -> str:
    window = fold.get("window", {})
    start, end = window.get("test_start"), window.get("test_end")
    dates = f"test {start[:10]} to {end[:10]}" if start and end else "per-user cuts"
    return f"{k} ({dates}, {fold.get('test_users', '?')} users)"


def spread_cell(summary: Mapping[str, Any] | None) -> Cell:
    """``0.1106 ± 0.0351 (0.0858)``: mean ± std (min), or ``—`` without a summary."""
    if not summary or summary.get("mean") is None:
        return cell(value_text(None))
    std, low = summary.get("std"), summary.get("min")
    return cell(
        value_text(summary["mean"]),
        f" ± {value_text(std)}" if std is not None else "",
        (f" ({value_text(low)})", "muted") if low is not None else "",
    )


def cv_table(cv: Mapping[str, Any], columns: Sequence[str] = DEFAULT_COLUMNS) -> Table:
    """Without folds (``evaluation.cv.folds: []``) the table has no rows and the file's note
    (or a default one) as its only note."""
    folds = cv.get("folds") or {}
    summary = cv.get("summary") or {}
    rows = []
    for k, fold in sorted(folds.items(), key=lambda kv: int(kv[0])):
        for model, values in (fold.get("metrics") or {}).items():
            rows.append(
                [cell(fold_label(k, fold)), cell(model)]
                + [cell(value_text(values.get(c))) for c in columns]
            )
    for model, metrics in summary.items():
        rows.append(
            [cell(("mean ± std (min)", "strong")), cell(model)]
            + [spread_cell(metrics.get(c)) for c in columns]
        )
    notes = [str(cv["note"])] if cv.get("note") else []
    if not folds and not notes:
        notes = [NO_FOLDS]
    return Table(
        title=cell(TITLE),
        columns=[Column("fold"), Column("model", key=True)]
        + [Column(c, numeric=True) for c in columns],
        rows=rows,
        notes=notes,
    )
