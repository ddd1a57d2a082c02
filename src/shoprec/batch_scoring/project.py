"""What the batch-scoring flow and command need from a project: the model behind the alias,
fetched from the project's registry, the batch itself on the project's compute engine
(``compute:``), and the run's counts as the Markdown of a Prefect artifact."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

from shoprec.batch_scoring.score import BatchResult, Progress, fetch_alias, score_batch
from shoprec.compute import dask_client
from shoprec.config import Params, load_params
from shoprec.privacy.erasures import ErasureList
from shoprec.registry import open_registry, registry_uri
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


def score_project(
    root: str | Path,
    model_dir: str | Path,
    params: Params | None = None,
    model_name: str | None = None,
    version: int | None = None,
    output: str | None = None,
    k: int | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    client=None,
) -> BatchResult:
    """``score_batch`` for the project at ``root`` on its compute engine: in this process
    (``compute.engine: local``) or as one Dask task per part (``dask``: a LocalCluster started
    for the batch, or the scheduler at ``compute.address`` / ``SHOPREC_DASK_ADDRESS``). On a
    cluster, workers that cannot read ``model_dir`` fetch ``model_name`` v``version`` from the
    project's registry themselves (with their own credentials, as for the output). A given
    ``client`` (e.g. prefect-dask's, inside a flow's task) is used instead of opening one."""
    params = params or load_params(Path(root) / "params.yaml")
    # resolved here: a worker runs in another folder, maybe on another machine
    where = Path(root).resolve()
    registry = registry_uri(params.registry.uri, where) if version is not None else None
    given = nullcontext(client) if client is not None else dask_client(params.compute)
    with given as client:
        return score_batch(
            params.batch_scoring,
            root,
            model_dir,
            model_name,
            version,
            output,
            k,
            chunk_size,
            progress=progress,
            client=client,
            registry=registry,
            exclude=ErasureList.open(params.privacy, root).ids(),  # forgotten users: no rows
        )


def result_markdown(result: dict[str, Any]) -> str:
    """``BatchResult.to_dict()`` as the Markdown table of the ``shoprec-batch-scoring``
    artifact (``shoprec.render.batch``)."""
    return to_markdown(batch_table(result))
