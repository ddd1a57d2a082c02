"""Ingest in chunks (``compute.engine: dask``) writes what the whole-table ingest writes.

Both engines run the ``ingest`` stage on the same canonical files, the chunked one with
chunks of a few rows, and every output must be equal: the packed events and items as read
back, the quarantine, and the report. The files hold rows that do not convert, a user on the
deletion list, pseudonymised ids, and (Parquet) numeric timestamps in milliseconds, whose unit
a chunk alone could not tell. A file that breaks half-way leaves the previous outputs in place.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from shoprec.config import load_params
from shoprec.errors import DataError
from shoprec.privacy.erasures import ErasureList
from shoprec.privacy.pseudonym import KEY_ENV, Pseudonymiser
from shoprec.stages import ingest
from tests.privacy.shop import KEY, USERS, write_shop

OUTPUTS = ("data/raw/events.parquet", "data/raw/items.parquet", "data/quarantine/ingest.parquet")


def _events(folder: Path) -> Path:
    """The privacy shop's events (36 rows), with a price that is not a number and a blank user."""
    files = write_shop(folder)
    events = pd.read_csv(files["events"], dtype=str)
    events["price"] = "1.5"
    events.loc[4, "price"] = "cheap"
    events.loc[13, "user_id"] = "  "
    events.to_csv(files["events"], index=False)
    return files["events"]


def _project(folder: Path, events: Path, items: Path, engine: str, erase: str | None) -> Path:
    folder.mkdir(parents=True)
    params = {
        "data": {"source": "files", "events": str(events), "items": str(items)},
        "privacy": {"pseudonymise_users": True},
        "compute": {"engine": engine, "partition_rows": 5},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if erase:
        ErasureList.open(load_params(folder / "params.yaml").privacy, folder).add(
            Pseudonymiser(KEY.encode())(erase), "dpo", "request"
        )
    return folder


def _ingest(project: Path) -> dict:
    with contextlib.chdir(project):
        return ingest.run(load_params("params.yaml"))


def _both(tmp_path: Path, events: Path, items: Path, erase: str | None = USERS[3]):
    reports = {}
    for engine in ("local", "dask"):
        project = _project(tmp_path / engine, events, items, engine, erase)
        reports[engine] = _ingest(project)
    return reports


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def _assert_same_outputs(tmp_path: Path) -> None:
    for output in OUTPUTS:
        local = pd.read_parquet(tmp_path / "local" / output)
        chunked = pd.read_parquet(tmp_path / "dask" / output)
        pd.testing.assert_frame_equal(chunked, local, obj=output)
    assert not list((tmp_path / "dask/data/raw").glob(".events-*"))  # nothing staged is left


def test_csv_in_chunks_equals_the_whole_table(tmp_path):
    events = _events(tmp_path / "source")
    reports = _both(tmp_path, events, tmp_path / "source/items.csv")
    assert reports["dask"] == reports["local"]
    counts = reports["local"]["counts"]["events"]
    assert counts == {"read": 36, "used": 33, "quarantined": 3}  # the erased user's 3 rows
    assert reports["local"]["quarantine_reasons"] == {"erased": 3}
    _assert_same_outputs(tmp_path)
    raw = pd.read_parquet(tmp_path / "dask/data/raw/events.parquet")
    # the rows that did not convert keep their problem and their record as read
    problems = raw.set_index("source_row")["ingest_problem"].dropna().to_dict()
    assert problems == {4: "non_numeric_price", 6: "unparseable_timestamp"}
    assert json.loads(raw.set_index("source_row").loc[4, "ingest_raw"])["price"] == "cheap"
    assert raw["user_id"].isna().sum() == 1  # the blank user stays for validation to judge


def test_parquet_with_millisecond_timestamps_in_chunks(tmp_path):
    events = pd.read_csv(_events(tmp_path / "source"), dtype=str)
    stamps = pd.to_datetime(events["timestamp"], utc=True, errors="coerce")
    events["timestamp"] = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    events["timestamp"] = events["timestamp"].astype("Float64")
    path = tmp_path / "source/events.parquet"
    events.to_parquet(path, index=False)
    reports = _both(tmp_path, path, tmp_path / "source/items.csv", erase=None)
    assert reports["dask"] == reports["local"]
    _assert_same_outputs(tmp_path)
    raw = pd.read_parquet(tmp_path / "dask/data/raw/events.parquet")
    assert raw["timestamp"].min() == pd.Timestamp("2024-03-01T10:00:00Z")


def test_a_file_that_breaks_half_way_leaves_the_previous_outputs(tmp_path):
    events = _events(tmp_path / "source")
    items = tmp_path / "source/items.csv"
    project = _project(tmp_path / "dask", events, items, "dask", None)
    _ingest(project)
    before = {o: (project / o).read_bytes() for o in OUTPUTS}

    broken = tmp_path / "source/events.csv.gz"
    broken.write_bytes(gzip.compress(events.read_bytes() * 40)[:-200])  # truncated
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["events"] = str(broken)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(DataError, match=r"events\.csv\.gz: broken gzip data"):
        _ingest(project)
    assert {o: (project / o).read_bytes() for o in OUTPUTS} == before
    assert not list((project / "data/raw").glob(".events-*"))


def test_only_erased_events_is_one_error_and_replaces_nothing(tmp_path):
    source = tmp_path / "source"
    write_shop(source)
    one_user = pd.read_csv(source / "events.csv", dtype=str).head(3)
    one_user.to_csv(source / "one.csv", index=False)
    project = _project(
        tmp_path / "dask", source / "one.csv", source / "items.csv", "dask", USERS[0]
    )
    with pytest.raises(DataError, match="has no events rows"):
        _ingest(project)
    assert not (project / "data/raw/events.parquet").exists()
    assert not list((project / "data/raw").glob(".events-*"))
