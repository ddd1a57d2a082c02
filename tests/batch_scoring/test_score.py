"""Batch scoring: every active user exactly once with the model's own top-K, a rerun that rewrites
nothing, refusing to mix two batches, who is active, the run folder's name, and S3 output."""

from __future__ import annotations

import json

import boto3
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

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
from tests.batches import (
    LATEST,
    assert_top_k_of,
    fit_itemknn,
    read_parts,
    synthetic_events,
)
from tests.conftest import client_credentials, new_bucket


# -- the scorer ------------------------------------------------------------------------------
def test_every_user_once_with_the_models_own_top_k(batch_shop, tmp_path):
    model = batch_shop["model"]
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


def test_a_rerun_with_the_same_plan_rewrites_nothing(batch_shop, tmp_path):
    model = batch_shop["model"]
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
def test_another_plan_in_the_same_output_is_refused(batch_shop, tmp_path, change):
    model = batch_shop["model"]
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


def test_parts_without_a_plan_are_refused(batch_shop, tmp_path):
    (tmp_path / "part-00000.parquet").write_bytes(b"someone else's")
    with pytest.raises(ShoprecError, match=r"no _plan.json"):
        score_to_parquet(batch_shop["model"], ["u00001"], tmp_path, 5, 10, "itemknn", 1)


def test_unknown_users_are_refused(batch_shop, tmp_path):
    with pytest.raises(ShoprecError, match=r"1 user id.*unknown.*nobody"):
        score_to_parquet(batch_shop["model"], ["u00001", "nobody"], tmp_path, 5, 10, "itemknn", 1)


# -- who is active -----------------------------------------------------------------------------
def test_active_users_are_known_users_with_a_recent_event(batch_shop, tmp_path):
    model = batch_shop["model"]
    events = pd.read_parquet(batch_shop["events"])
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


def test_the_run_folder_names_the_data_date_and_the_model(batch_shop):
    fp = model_fingerprint(batch_shop["dir"])
    assert fp == model_fingerprint(batch_shop["dir"]) and len(fp) == 64
    day = pd.Timestamp("2026-03-01").date()
    assert (
        run_location("s3://b/recs/", day, "two_stage", 4) == "s3://b/recs/2026-03-01_two_stage-v4"
    )
    assert run_location("/x", day, "itemknn", None, fp) == f"/x/2026-03-01_itemknn-local-{fp[:8]}"


# -- S3 (moto's server over HTTP) --------------------------------------------------------------
def test_s3_output_resumes_and_refuses_another_plan(batch_shop, s3_env, tmp_path):
    model = batch_shop["model"]
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
