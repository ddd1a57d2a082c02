"""The interaction matrix from per-run partial sums on a real Dask cluster equals
``build_interactions`` on the whole history: same user and item ids in the same order, same
values (1e-12), whatever the transform, the weights or the number of runs; and the
``features`` stage writes the same feature sets with ``engine: dask``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from shoprec.compute import dask_client
from shoprec.config import ComputeParams, Params, SyntheticSource, ValidationParams
from shoprec.data.partitions import split_by_day
from shoprec.features.interactions import Interactions, build_interactions
from shoprec.features.partial_sums import combine_partial_sums, run_partial_sums
from shoprec.stages import run_stage
from tests.projects import REPO_ROOT
from tests.tiny import SPLIT, WEIGHTS


@pytest.fixture(scope="module")
def client(dask_scheduler):
    with dask_client(ComputeParams(engine="dask", address=dask_scheduler)) as client:
        yield client


def assert_same(got: Interactions, expected: Interactions) -> None:
    assert got.user_ids.dtype == expected.user_ids.dtype
    np.testing.assert_array_equal(got.user_ids, expected.user_ids)
    np.testing.assert_array_equal(got.item_ids, expected.item_ids)
    assert got.matrix.dtype == expected.matrix.dtype == np.float32
    assert got.shape == expected.shape
    assert got.matrix.has_sorted_indices
    np.testing.assert_array_equal(got.matrix.indptr, expected.matrix.indptr)
    np.testing.assert_array_equal(got.matrix.indices, expected.matrix.indices)
    np.testing.assert_allclose(got.matrix.data, expected.matrix.data, rtol=1e-12, atol=0)


def by_runs(frames, folder: Path, run_rows: int, weights, client) -> list:
    sums = []
    for k, frame in enumerate(frames):
        days = split_by_day(frame, folder / f"part{k}")
        sums += run_partial_sums(days.runs(run_rows), weights, client)
    return sums


@pytest.mark.parametrize("transform", ["log1p", "sum", "binary"])
def test_the_tiny_shop_matrix_from_partial_sums(tiny_shop, client, tmp_path, transform):
    split = tiny_shop["holdout"].split
    catalogue = tiny_shop["items"]["item_id"]
    sums = by_runs([split.train, split.validation], tmp_path, 3_000, WEIGHTS, client)
    assert len(sums) > 2
    history = pd.concat([split.train, split.validation], ignore_index=True)
    expected = build_interactions(history, catalogue, WEIGHTS, transform)
    assert_same(combine_partial_sums(sums, catalogue, transform), expected)


def test_odd_weights_unknown_items_and_weightless_users(tiny_shop, client, tmp_path):
    events = tiny_shop["events"].copy()
    events.loc[events.index[::50], "item_id"] = "not-in-the-catalogue"
    lurker = events.iloc[:3].assign(user_id="lurker", event_type="view")
    events = pd.concat([events, lurker], ignore_index=True)
    weights = {"view": 0.0, "addtocart": 0.3, "purchase": 1.7}  # views count for nothing
    catalogue = tiny_shop["items"]["item_id"]
    sums = by_runs([events], tmp_path, 1_000, weights, client)
    expected = build_interactions(events, catalogue, weights, "log1p")
    assert "lurker" in expected.user_ids and "not-in-the-catalogue" in expected.item_ids
    assert_same(combine_partial_sums(sums, catalogue, "log1p"), expected)


def test_no_events_is_an_empty_history(tiny_shop):
    catalogue = tiny_shop["items"]["item_id"]
    got = combine_partial_sums([], catalogue)
    assert got.shape == (0, len(catalogue))
    empty = tiny_shop["events"].iloc[:0]
    assert_same(got, build_interactions(empty, catalogue, WEIGHTS))


def _features(root: Path) -> dict:
    out = {"report": (root / "reports/features.json").read_text()}
    for name in ("before_test", "before_validation"):
        folder = root / "data/features" / name
        with np.load(folder / "ids.npz") as ids:
            out[name] = Interactions(
                sp.load_npz(folder / "matrix.npz").tocsr(), ids["user_ids"], ids["item_ids"]
            )
    return out


def test_the_features_stage_writes_the_same_feature_sets(dask_scheduler, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = Params(
        data=SyntheticSource(users=150, items=80, days=21, seed=7),
        validation=ValidationParams().relative_to(REPO_ROOT),
        split=SPLIT,
    )
    dask = local.model_copy(
        update={"compute": ComputeParams(engine="dask", address=dask_scheduler, partition_rows=700)}
    )
    for stage in ("ingest", "validate", "split", "features"):
        run_stage(stage, local)
    expected = _features(tmp_path)
    run_stage("features", dask)
    got = _features(tmp_path)
    assert got["report"] == expected["report"]
    assert json.loads(got["report"])["before_test"]["nonzeros"] > 0
    for name in ("before_test", "before_validation"):
        assert_same(got[name], expected[name])
    assert not list((tmp_path / "data").glob(".features-*"))
