"""The evaluate stage's results as people read them: the test metrics and their intervals.

The table itself is ``shoprec.render.metrics`` (one renderer for the CLI and the flows)."""

from __future__ import annotations

from pathlib import Path

from shoprec import layout
from shoprec.io import read_json


def read_metrics(
    metrics_path: str | Path = layout.EVALUATION_METRICS,
    intervals_path: str | Path = layout.CONFIDENCE_INTERVALS,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, list[float]]]]:
    """``metrics/evaluation.json`` and ``metrics/confidence_intervals.json`` (``{}`` when the
    intervals file is absent); a missing metrics file is a readable ``DataError``."""
    metrics = read_json(metrics_path)
    intervals = read_json(intervals_path) if Path(intervals_path).is_file() else {}
    return metrics, intervals
