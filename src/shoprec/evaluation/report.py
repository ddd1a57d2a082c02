"""The metrics table people read: one row per model, values with their bootstrap interval."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from shoprec import layout
from shoprec.io import read_json

DEFAULT_COLUMNS = (
    "ndcg@10",
    "recall@20",
    "precision@10",
    "hitrate@10",
    "mrr@10",
    "coverage@10",
    "novelty@10",
)


def metrics_table(
    metrics: dict[str, dict[str, float]],
    intervals: dict[str, dict[str, list[float]]] | None = None,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    title: str = "Test metrics (full ranking; 95% bootstrap interval over users)",
) -> Table:
    intervals = intervals or {}
    present = [c for c in columns if any(c in m for m in metrics.values())]
    table = Table(title=title, title_justify="left")
    table.add_column("model", style="bold")
    for column in present:
        table.add_column(column, justify="right", no_wrap=True)
    for model, values in metrics.items():
        cells = []
        for column in present:
            value = values.get(column)
            ci = intervals.get(model, {}).get(column)
            text = "—" if value is None else f"{value:.4f}"
            if ci and value is not None:
                text += f" [dim]({ci[0]:.3f}–{ci[1]:.3f})[/dim]"
            cells.append(text)
        table.add_row(model, *cells)
    return table


def load_metrics_table(
    metrics_path: str | Path = layout.EVALUATION_METRICS,
    intervals_path: str | Path = layout.CONFIDENCE_INTERVALS,
) -> Table:
    metrics = read_json(metrics_path)
    intervals = read_json(intervals_path) if Path(intervals_path).is_file() else {}
    return metrics_table(metrics, intervals)
