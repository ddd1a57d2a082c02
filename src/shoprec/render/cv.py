"""The cross-validation table: each metric per fold and model, and the spread across folds.

Built from ``metrics/cv.json`` (stage ``cv``): ``{"folds": {k: {"window", "test_users",
"metrics": {model: {metric: value}}}}, "summary": {model: {metric: {"mean", "std", "min",
"folds"}}}}``. One row per fold and model, then one spread row per model (mean ± std, min).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shoprec.render.metrics import value_text
from shoprec.render.table import Column, Table, cell

DEFAULT_COLUMNS = ("ndcg@10", "recall@20")
TITLE = "Cross-validation folds (full ranking, each fold fit on data before its own cuts)"


def fold_label(k: str, fold: Mapping[str, Any]) -> str:
    window = fold.get("window", {})
    start, end = window.get("test_start"), window.get("test_end")
    dates = f"test {start[:10]} to {end[:10]}" if start and end else "per-user cuts"
    return f"{k} ({dates}, {fold.get('test_users', '?')} users)"


def cv_table(cv: Mapping[str, Any], columns: Sequence[str] = DEFAULT_COLUMNS) -> Table:
    folds = cv.get("folds") or {}
    summary = cv.get("summary") or {}
    rows = []
    for k, fold in sorted(folds.items(), key=lambda kv: int(kv[0])):
        for model, values in fold["metrics"].items():
            rows.append(
                [cell(fold_label(k, fold)), cell(model)]
                + [cell(value_text(values.get(c))) for c in columns]
            )
    for model, metrics in summary.items():
        cells = [cell(("mean ± std (min)", "strong")), cell(model)]
        for c in columns:
            s = metrics.get(c)
            cells.append(
                cell(f"{s['mean']:.4f} ± {s['std']:.4f}", (f" ({s['min']:.4f})", "muted"))
                if s
                else cell(value_text(None))
            )
        rows.append(cells)
    notes = [cv["note"]] if cv.get("note") else []
    return Table(
        title=cell(TITLE),
        columns=[Column("fold"), Column("model", key=True)]
        + [Column(c, numeric=True) for c in columns],
        rows=rows,
        notes=notes,
    )
