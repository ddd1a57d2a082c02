"""What the training flow reads from a project and publishes: its registry, its test metrics
and its validation summary, each rendered as the Markdown of a Prefect artifact (the gate's is
``GateResult.markdown()``).

The flows only wire; the files they read (``shoprec.layout``), how they are parsed and how the
tables look (``shoprec.render``, the same tables the CLI prints) live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shoprec import layout
from shoprec.config import Params, load_params
from shoprec.evaluation.report import read_metrics
from shoprec.io import read_json
from shoprec.registry import Registry, open_registry
from shoprec.render.cv import cv_table
from shoprec.render.metrics import metrics_table
from shoprec.render.segments import segments_table
from shoprec.render.table import to_markdown
from shoprec.render.validation import validation_table
from shoprec.validation.report import REPORT_HTML, SUMMARY_JSON

__all__ = [
    "Registry",
    "cv_markdown",
    "metrics_markdown",
    "open_project_registry",
    "project_metrics",
    "segments_markdown",
    "validation_markdown",
    "validation_report_uri",
    "validation_summary",
]


def open_project_registry(root: str | Path, params: Params | None = None) -> Registry:
    """The registry of the project at ``root``: ``SHOPREC_REGISTRY_URI``, else ``registry.uri``
    of ``params`` (default: ``root/params.yaml``), a relative folder taken from ``root``."""
    params = params or load_params(Path(root) / "params.yaml")
    return open_registry(params.registry.uri, root)


def project_metrics(root: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The test metrics and their bootstrap intervals (``{}`` without the file) of ``root``."""
    root = Path(root)
    return read_metrics(root / layout.EVALUATION_METRICS, root / layout.CONFIDENCE_INTERVALS)


def metrics_markdown(metrics: dict[str, Any], intervals: dict[str, Any] | None = None) -> str:
    """The metrics table (``shoprec metrics``) as Markdown, titled."""
    return to_markdown(metrics_table(metrics, intervals))


def cv_markdown(root: str | Path) -> str | None:
    """The cross-validation table (``shoprec metrics --cv``) as Markdown; None without folds."""
    path = Path(root) / layout.CV
    if not path.is_file():
        return None
    cv = read_json(path)
    return to_markdown(cv_table(cv)) if cv.get("folds") else None


def segments_markdown(root: str | Path) -> str | None:
    """The segments table (``shoprec metrics --segments``) as Markdown; None without the file."""
    path = Path(root) / layout.SEGMENTS
    return to_markdown(segments_table(read_json(path))) if path.is_file() else None


def validation_summary(root: str | Path) -> dict[str, Any] | None:
    """``reports/validation/summary.json`` of ``root``; None before the first validation."""
    path = Path(root) / layout.VALIDATION_REPORT / SUMMARY_JSON
    return read_json(path) if path.is_file() else None


def validation_markdown(summary: dict[str, Any]) -> str:
    """The validation summary (``shoprec validate``) as Markdown, titled with the verdict."""
    return to_markdown(validation_table(summary))


def validation_report_uri(root: str | Path) -> str:
    """The ``file://`` URI of the HTML validation report of ``root``."""
    return (Path(root).resolve() / layout.VALIDATION_REPORT / REPORT_HTML).as_uri()
