"""What the batch-scoring flow needs from a project: the model behind the alias, fetched from
the project's registry, and the run's counts as the Markdown of a Prefect artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shoprec.batch_scoring.score import fetch_alias
from shoprec.config import Params, load_params
from shoprec.registry import open_registry
from shoprec.render.batch import batch_table
from shoprec.render.table import to_markdown


def fetch_alias_model(
    root: str | Path, destination: str | Path, params: Params | None = None
) -> tuple[str, int]:
    """Download ``batch_scoring.model`` at ``batch_scoring.alias`` from the registry of the
    project at ``root`` (``SHOPREC_REGISTRY_URI``, else ``registry.uri``) into
    ``destination``, every sha256 checked; returns the model name and version."""
    params = params or load_params(Path(root) / "params.yaml")
    settings = params.batch_scoring
    registry = open_registry(params.registry.uri, root)
    return settings.model, fetch_alias(registry, settings.model, settings.alias, destination)


def result_markdown(result: dict[str, Any]) -> str:
    """``BatchResult.to_dict()`` as the Markdown table of the ``shoprec-batch-scoring``
    artifact (``shoprec.render.batch``)."""
    return to_markdown(batch_table(result))
