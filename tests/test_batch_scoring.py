"""Batch scoring: every active user exactly once with the model's own top-K, resumable after a
SIGKILL, refusing to mix two batches, on a folder and on S3 (moto's server over HTTP), and as
the Prefect flow on a local registry."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from shoprec.batch_scoring.score import (
    PLAN_FILE,
    SUCCESS_FILE,
    active_users,
    events_as_of,
    model_fingerprint,
    run_location,
    score_to_parquet,
)
from shoprec.errors import ShoprecError
from shoprec.features.interactions import build_interactions
from shoprec.registry import LocalStore, Registry
from shoprec.training.model_table import create_model, load_model
from tests.conftest import client_credentials, new_bucket
from tests.prefect_flows import load_flow, read_artifacts
from tests.projects import REPO_ROOT

EVENT_TYPES = ["view", "addtocart", "purchase"]
WEIGHTS = {"view": 1.0, "addtocart": 3.0, "purchase": 5.0}
LATEST = pd.Timestamp("2026-03-01 12:00", tz="UTC")


def synthetic_events(n_users: int, n_items: int, per_user: int = 8, seed: int = 0):
    """Events with a popularity skew; user u's last event is ``u % 40`` days before LATEST."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, size=(n_users, per_user), p=popularity / popularity.sum())
    users = np.repeat(np.arange(n_users), per_user)
    age_days = np.repeat(np.arange(n_users) % 40, per_user) + rng.uniform(0, 20, users.size)
    age_days[::per_user] = np.arange(n_users) % 40  # each user's newest event, exactly
    return pd.DataFrame(
        {
            "user_id": [f"u{u:05d}" for u in users],
            "item_id": [f"i{i:04d}" for i in items.ravel()],
            "event_type": rng.choice(
                ["view", "addtocart", "purchase"], users.size, p=[0.8, 0.1, 0.1]
            ),
            "timestamp": LATEST - pd.to_timedelta(age_days, unit="D"),
        }
    )


def fit_itemknn(events: pd.DataFrame, n_items: int):
    catalogue = np.array([f"i{i:04d}" for i in range(n_items)])
    history = build_interactions(events, catalogue, WEIGHTS)
    return create_model("itemknn", neighbors=20).fit(history)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A fitted ItemKNN on 600 users × 150 items, saved, with its events file."""
    folder = tmp_path_factory.mktemp("shop")
    events = synthetic_events(600, 150)
    events.to_parquet(folder / "events.parquet", index=False)
    model = fit_itemknn(events, 150)
    model.save(folder / "model")
    return {"model": model, "events": folder / "events.parquet", "dir": folder / "model"}


def read_parts(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def assert_top_k_of(table: pd.DataFrame, model, users: np.ndarray, k: int) -> None:
    """Each user once, ranks 1..n, exactly the items and scores of ``model.recommend``."""
    assert sorted(table["user_id"].unique()) == sorted(users)
    expected = model.recommend(list(users), k)
    got = table.sort_values(["user_id", "rank"]).reset_index(drop=True)
    expected = expected.sort_values(["user_id", "rank"]).reset_index(drop=True)
    assert got["user_id"].tolist() == expected["user_id"].tolist()
    assert got["rank"].tolist() == expected["rank"].tolist()
    assert got["item_id"].tolist() == expected["item_id"].tolist()
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-6)
    ranks = got.groupby("user_id")["rank"].agg(["min", "max", "count"])
    assert (ranks["min"] == 1).all() and (ranks["max"] == ranks["count"]).all()


# -- the scorer ------------------------------------------------------------------------------
def test_every_user_once_with_the_models_own_top_k(shop, tmp_path):
    model = shop["model"]
    users = model.history.user_ids[::-1]  # any order in, sorted plan out
    calls = []
    result = score_to_parquet(
        model, users, tmp_path / "out", 10, 64, "itemknn", 3, lambda d, t: calls.append((d, t))
    )
    assert (result.users, result.chunks) == (600, 10)
    assert (result.chunks_written, result.chunks_skipped) == (10, 0)
    assert calls == [(i, 10) for i in range(1, 11)]
    table = read_parts(tmp_path / "out")
    assert result.rows == len(table) == 600 * 10  # 150 items: everyone has 10 unseen
    assert_top_k_of(table, model, users, 10)
    assert set(table["model"]) == {"itemknn"} and set(table["version"]) == {3}
    schema = pq.read_schema(tmp_path / "out/part-00000.parquet")
    assert [f.name for f in schema] == ["user_id", "rank", "item_id", "score", "model", "version"]
    # the chunk plan is the sorted users cut in order
    first = pd.read_parquet(tmp_path / "out/part-00000.parquet")
    assert sorted(first["user_id"].unique()) == sorted(np.sort(users)[:64])
    plan = json.loads((tmp_path / "out" / PLAN_FILE).read_text())
    assert plan["n_users"] == 600 and plan["n_chunks"] == 10 and plan["k"] == 10
    success = json.loads((tmp_path / "out" / SUCCESS_FILE).read_text())
    assert success["rows"] == 6000 and success["chunks_written"] == 10
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left


def test_a_small_catalogue_gives_fewer_rows_never_a_seen_item(tmp_path):
    events = synthetic_events(40, 8, per_user=4, seed=1)
    model = fit_itemknn(events, 8)
    result = score_to_parquet(model, model.history.user_ids, tmp_path, 10, 7, "itemknn", 1)
    table = read_parts(tmp_path)
    unseen = 8 - np.diff(model.history.matrix.indptr)
    per_user = table.groupby("user_id").size()
    assert per_user.reindex(model.history.user_ids, fill_value=0).tolist() == unseen.tolist()
    assert result.rows == len(table) == unseen.sum()
    assert_top_k_of(table, model, model.history.user_ids, 10)


def test_a_rerun_with_the_same_plan_rewrites_nothing(shop, tmp_path):
    model = shop["model"]
    score_to_parquet(model, model.history.user_ids, tmp_path, 5, 100, "itemknn", 1)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("part-*")}
    again = score_to_parquet(model, model.history.user_ids, tmp_path, 5, 100, "itemknn", 1)
    assert (again.chunks_written, again.chunks_skipped, again.rows) == (0, 6, 3000)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("part-*")} == before


@pytest.mark.parametrize(
    "change",
    [{"k": 6}, {"chunk_size": 50}, {"version": 2}, {"users": 599}],
    ids=lambda c: next(iter(c)),
)
def test_another_plan_in_the_same_output_is_refused(shop, tmp_path, change):
    model = shop["model"]
    users = model.history.user_ids
    score_to_parquet(model, users, tmp_path, 5, 100, "itemknn", 1)
    args = {"k": 5, "chunk_size": 100, "version": 1, "users": 600, **change}
    with pytest.raises(ShoprecError, match=r"holds another batch .*use another output or delete"):
        score_to_parquet(
            model,
            users[: args["users"]],
            tmp_path,
            args["k"],
            args["chunk_size"],
            "itemknn",
            args["version"],
        )
    assert len(list(tmp_path.glob("part-*"))) == 6  # nothing touched


def test_parts_without_a_plan_are_refused(shop, tmp_path):
    (tmp_path / "part-00000.parquet").write_bytes(b"someone else's")
    with pytest.raises(ShoprecError, match=r"no _plan.json"):
        score_to_parquet(shop["model"], ["u00001"], tmp_path, 5, 10, "itemknn", 1)


def test_unknown_users_are_refused(shop, tmp_path):
    with pytest.raises(ShoprecError, match=r"1 user id.*unknown.*nobody"):
        score_to_parquet(shop["model"], ["u00001", "nobody"], tmp_path, 5, 10, "itemknn", 1)


# -- who is active -----------------------------------------------------------------------------
def test_active_users_are_known_users_with_a_recent_event(shop, tmp_path):
    model = shop["model"]
    events = pd.read_parquet(shop["events"])
    stranger = pd.DataFrame(
        {"user_id": ["zz-new"], "item_id": ["i0001"], "event_type": ["view"], "timestamp": [LATEST]}
    )
    path = tmp_path / "events.parquet"
    pd.concat([events, stranger]).to_parquet(path, index=False)
    recent = active_users(model, path, 7)
    # user u's newest event is u % 40 days old: active within 7 days when u % 40 < 7
    expected = [f"u{u:05d}" for u in range(600) if u % 40 < 7]
    assert recent.tolist() == expected
    assert active_users(model, path, 0).tolist() == sorted(model.history.user_ids)
    assert len(active_users(model, path, 40)) == 600
    assert events_as_of(path).isoformat() == "2026-03-01"


def test_the_run_folder_names_the_data_date_and_the_model(shop):
    fp = model_fingerprint(shop["dir"])
    assert fp == model_fingerprint(shop["dir"]) and len(fp) == 64
    day = pd.Timestamp("2026-03-01").date()
    assert (
        run_location("s3://b/recs/", day, "two_stage", 4) == "s3://b/recs/2026-03-01_two_stage-v4"
    )
    assert run_location("/x", day, "itemknn", None, fp) == f"/x/2026-03-01_itemknn-local-{fp[:8]}"


# -- S3 (moto's server over HTTP) --------------------------------------------------------------
def test_s3_output_resumes_and_refuses_another_plan(shop, s3_env, tmp_path):
    model = shop["model"]
    bucket = new_bucket(s3_env)
    uri = f"s3://{bucket}/batch/run1"
    result = score_to_parquet(model, model.history.user_ids, uri, 8, 150, "itemknn", 2)
    assert (result.chunks, result.chunks_written, result.output) == (4, 4, uri)
    client = boto3.client("s3", endpoint_url=s3_env, **client_credentials())
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    parts = [f"batch/run1/part-{i:05d}.parquet" for i in range(4)]
    assert keys == sorted([*parts, "batch/run1/_plan.json", "batch/run1/_SUCCESS.json"])
    for i, key in enumerate(parts):
        client.download_file(bucket, key, str(tmp_path / f"part-{i:05d}.parquet"))
    assert_top_k_of(read_parts(tmp_path), model, model.history.user_ids, 8)
    reply = client.get_object(Bucket=bucket, Key="batch/run1/_SUCCESS.json")
    success = json.loads(reply["Body"].read())
    assert success["rows"] == 600 * 8

    client.delete_object(Bucket=bucket, Key=parts[2])  # as if the run had died before it
    again = score_to_parquet(model, model.history.user_ids, uri, 8, 150, "itemknn", 2)
    assert (again.chunks_written, again.chunks_skipped, again.rows) == (1, 3, 4800)
    with pytest.raises(ShoprecError, match=r"holds another batch.*k"):
        score_to_parquet(model, model.history.user_ids, uri, 9, 150, "itemknn", 2)


# -- the command line --------------------------------------------------------------------------
def write_project(folder: Path, batch: dict, registry: str = "registry") -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["registry"] = {"uri": registry}
    params["batch_scoring"] = {**params["batch_scoring"], **batch}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return folder / "params.yaml"


SCORE = [sys.executable, "-m", "shoprec", "batch", "score"]


def test_the_cli_resumes_after_a_sigkill(tmp_path):
    events = synthetic_events(3000, 300, per_user=5, seed=2)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    fit_itemknn(events, 300).save(tmp_path / "model")
    batch = {"events": str(tmp_path / "events.parquet"), "active_days": 0}
    params = write_project(tmp_path / "project", batch)
    command = [
        *SCORE,
        *("--model-dir", str(tmp_path / "model"), "--output", "out", "-p", str(params)),
        *("--chunk-size", "4", "--k", "5"),
    ]
    fingerprint = model_fingerprint(tmp_path / "model")
    run_dir = tmp_path / "out" / f"2026-03-01_itemknn-local-{fingerprint[:8]}"
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(run_dir.glob("part-*.parquet"))) < 5:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no parts appeared"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in run_dir.glob("part-*")}
    assert 5 <= len(before) < 750, "the run must be killed half-way for this test to mean anything"
    assert not (run_dir / SUCCESS_FILE).exists()

    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "already there" in done.stdout
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in run_dir.glob("part-*")}
    assert len(after) == 750 and all(after[name] == same for name, same in before.items())
    success = json.loads((run_dir / SUCCESS_FILE).read_text())
    assert success["chunks_skipped"] == len(before) > 0
    assert success["chunks_written"] == 750 - len(before)
    table = pd.read_parquet(run_dir)  # the _files are skipped by Parquet readers
    assert table["user_id"].value_counts().eq(5).all() and table["user_id"].nunique() == 3000
    assert len(table) == success["rows"] == 15000
    assert not list(run_dir.glob(".*"))  # the killed run's temporary file is gone


def test_the_cli_explains_a_clash_in_one_line(shop, tmp_path):
    from typer.testing import CliRunner

    from shoprec.cli import app

    params = write_project(tmp_path / "project", {"events": str(shop["events"])})
    base = ["batch", "score", "--model-dir", str(shop["dir"]), "-p", str(params)]
    base += ["--output", str(tmp_path / "out")]
    runner = CliRunner()
    first = runner.invoke(app, [*base, "-k", "4"])
    assert first.exit_code == 0, first.output
    assert "450 users" in first.stdout  # u % 40 < 30: active within batch_scoring.active_days
    clash = runner.invoke(app, [*base, "-k", "6"])
    assert clash.exit_code == 1
    assert clash.stderr.startswith("error:") and "holds another batch" in clash.stderr
    assert len(clash.stderr.strip().splitlines()) == 1
    empty = runner.invoke(app, ["batch", "score", "-p", str(params)])  # nothing promoted yet
    assert empty.exit_code == 1 and "has no 'production' version" in empty.stderr


# -- the Prefect flow --------------------------------------------------------------------------
@pytest.mark.slow
def test_the_flow_scores_the_production_version_from_the_registry(prefect_api, shop, tmp_path):
    registry = Registry(LocalStore(tmp_path / "registry"))
    for version in (1, 2):  # v2 holds the same files; production is v2
        assert registry.register("itemknn", shop["dir"], "ci") == version
        registry.record_check("itemknn", version, "servability", {"passed": True})
        registry.decide("itemknn", version, "approved", "ci", "test")
    registry.promote("itemknn", 2, "ci")
    batch = {"model": "itemknn", "output": "recs", "k": 7, "chunk_size": 128, "active_days": 7}
    write_project(tmp_path / "project", {**batch, "events": str(shop["events"])}, "../registry")

    flow_module = load_flow("batch_scoring")
    result = flow_module.batch_scoring_flow(project_dir=str(tmp_path / "project"))
    run_dir = tmp_path / "project/recs/2026-03-01_itemknn-v2"
    assert result["output"] == str(run_dir)
    active = [f"u{u:05d}" for u in range(600) if u % 40 < 7]
    assert (result["users"], result["rows"], result["version"]) == (len(active), len(active) * 7, 2)
    table = pd.read_parquet(run_dir)
    assert_top_k_of(table, load_model(shop["dir"]), np.array(active), 7)
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


def test_the_batch_command_has_help():
    from typer.testing import CliRunner

    from shoprec.cli import app

    result = CliRunner().invoke(app, ["batch", "score", "--help"])
    assert result.exit_code == 0
    assert all(o in result.stdout for o in ("--output", "--k", "--chunk-size", "--model-dir"))
