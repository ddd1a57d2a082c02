"""Prefect batch-scoring flow: top-K for every active user, from the production model, as Parquet.

The model is the version behind ``batch_scoring.alias`` in the registry, downloaded with every
file's sha256 checked, so the batch scores exactly what was approved. The work itself is
``shoprec.batch_scoring.score`` (the same code as ``shoprec batch score``): a run folder
``<output>/<as-of date>_<model>-v<version>`` of Parquet parts, which a retry of a failed run
resumes instead of starting again. The counts are published as the ``shoprec-batch-scoring``
artifact.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from shoprec.batch_scoring.project import fetch_alias_model, result_markdown, score_project
from shoprec.compute import dask_task_runner
from shoprec.config import load_params


@task(retries=0, persist_result=False)  # results are small dicts; nothing is pickled
def fetch_model(project_dir: str, destination: str) -> dict:
    """The alias's version from the registry into ``destination``, verified."""
    params = load_params(Path(project_dir) / "params.yaml")
    model, version = fetch_alias_model(project_dir, destination, params)
    get_run_logger().info("%s@%s is v%d (verified)", model, params.batch_scoring.alias, version)
    return {"model": model, "version": version}


@task(retries=0, persist_result=False)
def score_users(
    project_dir: str,
    model_dir: str,
    model: str,
    version: int,
    output: str | None,
    k: int | None,
    chunk_size: int | None,
    on_cluster: bool = False,
) -> dict:
    """Score every active user, chunk by chunk, logging each chunk. ``on_cluster``: this task
    runs on a worker of the flow's ``DaskTaskRunner`` and sends each part to the same cluster
    as a Dask task of its own (``compute.engine: dask``)."""
    logger = get_run_logger()
    root = Path(project_dir)

    def progress(done: int, total: int) -> None:
        logger.info("chunk %d/%d done", done, total)

    if not on_cluster:  # the project's way, deletion list included (forgotten users: no rows)
        result = score_project(
            root, model_dir, None, model, version, output, k, chunk_size, progress
        )
        return result.to_dict()
    from prefect_dask import get_dask_client

    with get_dask_client() as client:
        result = score_project(
            root, model_dir, None, model, version, output, k, chunk_size, progress, client
        )
    return result.to_dict()


@flow(name="shoprec-batch-scoring-on-dask", persist_result=False)
def score_on_cluster(
    project_dir: str, model_dir: str, model: str, version: int, output, k, chunk_size
) -> dict:
    """The scoring task on the Dask cluster (the flow's task runner), its parts fanned out."""
    return score_users.submit(
        project_dir, model_dir, model, version, output, k, chunk_size, on_cluster=True
    ).result()


@flow(name="shoprec-batch-scoring", log_prints=True, persist_result=False)
def batch_scoring_flow(
    project_dir: str = ".",
    output: str | None = None,
    k: int | None = None,
    chunk_size: int | None = None,
) -> dict:
    """Top-K for every active user of ``project_dir`` (``batch_scoring`` in params.yaml), from
    the registry's alias, to ``output`` (default ``batch_scoring.output``; relative to the
    project). Returns the counts (``BatchResult`` as a dict)."""
    root = Path(project_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="shoprec-batch-") as tmp:
        fetched = fetch_model(str(root), tmp)
        job = (str(root), tmp, fetched["model"], fetched["version"], output, k, chunk_size)
        runner = dask_task_runner(load_params(root / "params.yaml").compute)
        if runner is None:
            result = score_users(*job)
        else:  # the workers read the verified folder in tmp, or fetch the version themselves
            result = score_on_cluster.with_options(task_runner=runner)(*job)
    create_markdown_artifact(
        key="shoprec-batch-scoring",
        markdown=result_markdown(result),
        description="Batch scoring: users, rows and parts of this run",
    )
    get_run_logger().info(
        "%d users, %d rows → %s", result["users"], result["rows"], result["output"]
    )
    return result


if __name__ == "__main__":
    batch_scoring_flow()
