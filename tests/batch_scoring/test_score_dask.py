"""Batch scoring on a real Dask cluster (a LocalCluster: two worker processes over TCP): the
same parts, byte for byte, as the local engine; a rerun writes only the missing part; the
model loaded once per worker; a worker that cannot read the model folder fetches the version
from the registry, or says why it cannot; and S3 output written by the workers."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import boto3
import pytest

from shoprec.batch_scoring.parts import (
    FETCHED_MODELS,
    ModelSource,
    model_fingerprint,
    model_loads,
)
from shoprec.batch_scoring.project import score_project
from shoprec.batch_scoring.score import PLAN_FILE, SUCCESS_FILE, score_to_parquet
from shoprec.compute import dask_client
from shoprec.config import ComputeParams, load_params
from shoprec.errors import ShoprecError
from shoprec.registry import LocalStore, Registry
from tests.batches import read_parts, write_project
from tests.conftest import CREDENTIALS, client_credentials, new_bucket

K, CHUNK = 6, 64  # 600 users: ten parts, the last one of 24 users


def _files(folder: Path) -> dict[str, bytes]:
    """What a reader sees: the parts and the plan (``_SUCCESS.json`` holds times)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != SUCCESS_FILE}


def _project(batch_shop, tmp_path: Path, engine: dict):
    batch = {"events": str(batch_shop["events"]), "active_days": 0, "k": K, "chunk_size": CHUNK}
    params = load_params(write_project(tmp_path / "project", batch))
    return params.model_copy(update={"compute": ComputeParams(**engine)})


def _run_folder(base: Path) -> Path:
    (folder,) = base.iterdir()
    return folder


@pytest.fixture
def cluster(dask_scheduler):
    """A client of the session's LocalCluster."""
    with dask_client(ComputeParams(engine="dask", address=dask_scheduler)) as client:
        yield client


def test_the_dask_engine_writes_the_local_engines_parts_and_resumes(
    batch_shop, dask_scheduler, tmp_path
):
    root, model_dir = tmp_path / "project", batch_shop["dir"]
    local = _project(batch_shop, tmp_path, {"engine": "local"})
    on_dask = _project(batch_shop, tmp_path, {"engine": "dask", "address": dask_scheduler})
    fingerprint = model_fingerprint(model_dir)
    with dask_client(on_dask.compute) as client:
        loads_before = client.run(model_loads)
    here = score_project(root, model_dir, local, output=str(tmp_path / "local"))
    calls = []
    there = score_project(
        root, model_dir, on_dask, output=str(tmp_path / "dask"), progress=lambda *c: calls.append(c)
    )
    assert (here.engine, there.engine) == ("local", "dask")
    assert (there.chunks, there.chunks_written, there.rows) == (10, 10, here.rows)
    assert sorted(calls) == [(i, 10) for i in range(1, 11)]  # as parts finish
    local_dir, dask_dir = _run_folder(tmp_path / "local"), _run_folder(tmp_path / "dask")
    assert local_dir.name == dask_dir.name
    expected = _files(local_dir)
    assert sorted(expected) == [PLAN_FILE] + [f"part-{i:05d}.parquet" for i in range(10)]
    assert _files(dask_dir) == expected  # the same files, byte for byte
    assert read_parts(dask_dir).equals(read_parts(local_dir))
    success = json.loads((dask_dir / SUCCESS_FILE).read_text())
    assert (success["engine"], success["rows"]) == ("dask", here.rows)
    assert not list(dask_dir.glob(".*"))  # no temporary file left

    # the workers loaded the model (not this process), each at most once for ten parts
    with dask_client(on_dask.compute) as client:
        loads = client.run(model_loads)
    count = {w: loads[w].get(fingerprint, 0) - loads_before[w].get(fingerprint, 0) for w in loads}
    assert max(count.values()) <= 1
    assert max(counts.get(fingerprint, 0) for counts in loads.values()) >= 1
    assert fingerprint not in model_loads()

    # a rerun after a lost part writes only that part, and the same bytes
    (dask_dir / "part-00003.parquet").unlink()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dask_dir.glob("part-*")}
    again = score_project(root, model_dir, on_dask, output=str(tmp_path / "dask"))
    assert (again.chunks_written, again.chunks_skipped, again.rows) == (1, 9, here.rows)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dask_dir.glob("part-*")}
    assert {name: after[name] for name in before} == before
    assert _files(dask_dir) == expected


def test_a_worker_that_cannot_read_the_folder_fetches_the_version(batch_shop, cluster, tmp_path):
    model, model_dir = batch_shop["model"], batch_shop["dir"]
    users = model.history.user_ids
    registry = Registry(LocalStore(tmp_path / "registry"))
    version = registry.register("itemknn", model_dir, by="test")
    fingerprint = model_fingerprint(model_dir)
    local = (model, users, tmp_path / "local", K, 150, "itemknn", version)
    score_to_parquet(*local, fingerprint=fingerprint)
    gone = tmp_path / "download"  # the caller's temporary copy, not on the workers' disks
    source = ModelSource(str(gone), fingerprint, str(tmp_path / "registry"), "itemknn", version)
    result = score_to_parquet(
        model, users, tmp_path / "dask", K, 150, "itemknn", version, client=cluster, source=source
    )
    assert (result.chunks_written, result.engine) == (4, "dask")
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")
    (worker_tmp,) = set(cluster.run(tempfile.gettempdir).values())
    fetched = Path(worker_tmp) / FETCHED_MODELS / f"itemknn-v{version}-{fingerprint[:16]}"
    assert model_fingerprint(fetched) == fingerprint  # what the workers scored with
    shutil.rmtree(fetched)


def test_a_local_folder_the_workers_cannot_read_is_one_clear_error(batch_shop, cluster, tmp_path):
    model = batch_shop["model"]
    source = ModelSource(str(tmp_path / "nowhere"), model_fingerprint(batch_shop["dir"]))
    with pytest.raises(ShoprecError, match=r"nowhere: the model folder cannot be read on Dask"):
        score_to_parquet(
            model, model.history.user_ids, tmp_path / "out", K, 300, "itemknn", None,
            client=cluster, source=source,
        )  # fmt: skip
    assert not (tmp_path / "out" / SUCCESS_FILE).exists()


# -- S3: the workers write the parts with their own credentials --------------------------------
@pytest.fixture
def workers_with_s3(cluster, s3_env):
    """The session's workers were started before this test's S3 variables: a cluster's
    workers get their credentials from their own environment (or an instance role), never from
    the tasks, so the test sets them on each worker as a deployment would, and restores them."""

    def _set_environment(values: dict[str, str | None]) -> dict[str, str | None]:
        # nested, so Dask ships it by value (workers need not import this test module)
        before = {key: os.environ.get(key) for key in values}
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        return before

    wanted = {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_env, "AWS_PROFILE": None}
    wanted["AWS_SESSION_TOKEN"] = None
    before = cluster.run(_set_environment, wanted)
    yield cluster
    for worker, values in before.items():
        cluster.run(_set_environment, values, workers=[worker])


def test_s3_output_from_the_workers_equals_the_local_engines(
    batch_shop, workers_with_s3, s3_env, tmp_path
):
    model, fingerprint = batch_shop["model"], model_fingerprint(batch_shop["dir"])
    users = model.history.user_ids
    score_to_parquet(
        model, users, tmp_path / "local", K, 150, "itemknn", 2, fingerprint=fingerprint
    )
    bucket = new_bucket(s3_env)
    uri = f"s3://{bucket}/batch/run1"
    source = ModelSource(str(batch_shop["dir"]), fingerprint)
    args = (model, users, uri, K, 150, "itemknn", 2)
    result = score_to_parquet(*args, client=workers_with_s3, source=source)
    assert (result.chunks_written, result.output) == (4, uri)
    s3 = boto3.client("s3", endpoint_url=s3_env, **client_credentials())

    def stored() -> dict[str, bytes]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        return {
            key.rsplit("/", 1)[1]: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in sorted(keys)
            if not key.endswith(SUCCESS_FILE)
        }

    assert stored() == _files(tmp_path / "local")
    s3.delete_object(Bucket=bucket, Key="batch/run1/part-00002.parquet")
    again = score_to_parquet(*args, client=workers_with_s3, source=source)
    assert (again.chunks_written, again.chunks_skipped, again.rows) == (1, 3, result.rows)
    assert stored() == _files(tmp_path / "local")
