"""The segments table: each metric per user and item segment, per model.

Built from ``metrics/segments.json`` (stage ``evaluate``, ``shoprec.evaluation.segments``):
``{"segments": {...how drawn}, "models": {model: {"users": {segment: {"users": n, metric:
value}}, "items": {segment: {"users": n, "targets": m, metric: value}}}}}``. A segment without
users shows only its count and ``—``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shoprec.render.metrics import value_text
from shoprec.render.table import Column, Table, cell

DEFAULT_COLUMNS = ("ndcg@10", "recall@20")
TITLE = "Test metrics per segment"


def segments_table(
    segments: Mapping[str, Any],
    columns: Sequence[str] = DEFAULT_COLUMNS,
    models: Sequence[str] | None = None,
) -> Table:
    rows = []
    for model, kinds in (segments.get("models") or {}).items():
        if models and model not in models:
            continue
        for kind in ("users", "items"):
            for name, row in (kinds.get(kind) or {}).items():
                rows.append(
                    [cell(model), cell(f"{kind[:-1]} {name}"), cell(str(row.get("users", 0)))]
                    + [cell(value_text(row.get(c))) for c in columns]
                )
    how = segments.get("segments") or {}
    notes = []
    if how:
        head = how.get("head_items")
        share = f"{head:.0%}" if head is not None else "?"
        notes.append(
            f"history bins from {how.get('history_edges')}; head items: the most popular "
            f"{share} of items with history; item segments score only the targets in the segment"
        )
    if not rows:
        notes.append("no segments in this file")
    return Table(
        title=cell(TITLE),
        columns=[Column("model", key=True), Column("segment"), Column("users", numeric=True)]
        + [Column(c, numeric=True) for c in columns],
        rows=rows,
        notes=notes,
    )
