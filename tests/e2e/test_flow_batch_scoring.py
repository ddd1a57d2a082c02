"""The batch-scoring Prefect flow on a local registry: the production version scored, a retry that
resumes, and a tampered file that stops it before anything is written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from shoprec.errors import ShoprecError
from shoprec.registry import LocalStore, Registry
from shoprec.release.propose import check_servability
from shoprec.training.model_table import load_model
from tests.batches import (
    assert_top_k_of,
    write_project,
)
from tests.prefect_flows import load_flow, read_artifacts


@pytest.mark.slow
def test_the_flow_scores_the_production_version_from_the_registry(
    prefect_api, batch_shop, tmp_path
):
    registry = Registry(LocalStore(tmp_path / "registry"))
    for version in (1, 2):  # v2 holds the same files; production is v2, v1 stays pending
        assert registry.register("itemknn", batch_shop["dir"], "ci") == version
    # the real check: fetched from the registry, loaded in a fresh process, same rankings
    assert check_servability(registry, "itemknn", 2, batch_shop["dir"])["passed"] is True
    registry.decide("itemknn", 2, "approved", "ci", "test")
    registry.promote("itemknn", 2, "ci")
    batch = {"model": "itemknn", "output": "recs", "k": 7, "chunk_size": 128, "active_days": 7}
    write_project(
        tmp_path / "project", {**batch, "events": str(batch_shop["events"])}, "../registry"
    )

    flow_module = load_flow("batch_scoring")
    result = flow_module.batch_scoring_flow(project_dir=str(tmp_path / "project"))
    run_dir = tmp_path / "project/recs/2026-03-01_itemknn-v2"
    assert result["output"] == str(run_dir)
    active = [f"u{u:05d}" for u in range(600) if u % 40 < 7]
    assert (result["users"], result["rows"], result["version"]) == (len(active), len(active) * 7, 2)
    table = pd.read_parquet(run_dir)
    assert_top_k_of(table, load_model(batch_shop["dir"]), np.array(active), 7)
    assert set(table["version"]) == {2}
    artifact = read_artifacts("shoprec-batch-scoring")[0]
    assert artifact is not None and f"| users | {len(active):,} |" in artifact.data
    assert "itemknn v2" in artifact.data

    # a retry of the same batch resumes: nothing is scored again
    again = flow_module.batch_scoring_flow(project_dir=str(tmp_path / "project"), k=7)
    assert (again["chunks_written"], again["chunks_skipped"]) == (0, result["chunks"])
    assert (
        "| parts already there (resumed) | 1 |" in read_artifacts("shoprec-batch-scoring")[0].data
    )

    # a tampered file in the registry stops the flow before anything is written
    manifest = json.loads((tmp_path / "registry/itemknn/versions/2/manifest.json").read_text())
    tampered = tmp_path / "registry/itemknn/versions/2/files" / next(iter(manifest["files"]))
    tampered.write_bytes(tampered.read_bytes() + b"x")
    shutil.rmtree(tmp_path / "project/recs")
    with pytest.raises(ShoprecError, match="sha256"):
        flow_module.batch_scoring_flow(project_dir=str(tmp_path / "project"))
    assert not (tmp_path / "project/recs").exists()


@pytest.mark.slow
def test_on_dask_the_flow_writes_the_local_engines_parts(
    prefect_api, batch_shop, tmp_path, dask_scheduler
):
    """``compute.engine: dask``: the scoring task runs on prefect-dask's task runner and fans
    its parts out on the same cluster; the parts are the local engine's, byte for byte."""
    import yaml

    registry = Registry(LocalStore(tmp_path / "registry"))
    assert registry.register("itemknn", batch_shop["dir"], "ci") == 1
    assert check_servability(registry, "itemknn", 1, batch_shop["dir"])["passed"] is True
    registry.decide("itemknn", 1, "approved", "ci", "test")
    registry.promote("itemknn", 1, "ci")
    batch = {"model": "itemknn", "k": 5, "chunk_size": 100, "active_days": 7}
    flow_module = load_flow("batch_scoring")
    runs = {}
    for engine in ("local", "dask"):
        project = tmp_path / engine
        params = write_project(
            project, {**batch, "output": "recs", "events": str(batch_shop["events"])}, "../registry"
        )
        settings = yaml.safe_load(params.read_text())
        settings["compute"] = {"engine": engine, "address": dask_scheduler}
        params.write_text(yaml.safe_dump(settings, sort_keys=False))
        runs[engine] = flow_module.batch_scoring_flow(project_dir=str(project))
    local, dask = (tmp_path / e / "recs/2026-03-01_itemknn-v1" for e in ("local", "dask"))
    parts = sorted(p.name for p in local.glob("part-*.parquet"))
    assert len(parts) > 1 and parts == sorted(p.name for p in dask.glob("part-*.parquet"))
    for name in parts:
        assert (local / name).read_bytes() == (dask / name).read_bytes(), name
    assert (runs["local"]["engine"], runs["dask"]["engine"]) == ("local", "dask")
    assert runs["local"]["rows"] == runs["dask"]["rows"] > 0
