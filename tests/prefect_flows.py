"""Helpers for tests that run the Prefect flows in flows/ (the API comes from the
``prefect_api`` fixture in conftest.py)."""

from __future__ import annotations

import importlib.util

from tests.projects import REPO_ROOT


def load_flow(name: str):
    """The module ``flows/<name>.py``, loaded from the repository (flows/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"flows_{name}", REPO_ROOT / f"flows/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_artifacts(key: str) -> list:
    """Artifacts with ``key``, newest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
        )
