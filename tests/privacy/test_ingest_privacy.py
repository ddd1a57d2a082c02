"""Ingest with pseudonymised ids and the deletion list: no raw id is written, counts add up."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from shoprec.config import load_params
from shoprec.data.online_retail import read_online_retail
from shoprec.data.protect import ERASED, protect_users
from shoprec.errors import ConfigError
from shoprec.privacy.erasures import ErasureList
from shoprec.privacy.pseudonym import KEY_ENV, Pseudonymiser
from shoprec.stages import ingest, validate
from tests.privacy.raw_ids import files_containing
from tests.privacy.shop import BAD_TIMESTAMP_USER, KEY, USERS, write_params, write_shop
from tests.projects import REPO_ROOT


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with the tiny CSV shop (under source/) and params with pseudonymisation on."""
    files = write_shop(tmp_path / "source")
    write_params(tmp_path, files)
    shutil.copytree(REPO_ROOT / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(KEY_ENV, KEY)
    return tmp_path


def _params(project):
    return load_params(project / "params.yaml")


def test_ingest_and_validate_write_pseudonyms_only_and_counts_add_up(project):
    report = ingest.run(_params(project))
    pseudonym = Pseudonymiser(KEY.encode())
    assert report["privacy"]["pseudonymised_users"] is True
    assert report["privacy"]["key_id"] == pseudonym.key_id
    assert KEY not in json.dumps(report)
    events = report["counts"]["events"]
    assert events == {"read": 36, "used": 36, "quarantined": 0}

    raw = pd.read_parquet(project / "data/raw/events.parquet")
    assert set(raw["user_id"]) == {pseudonym(u) for u in USERS}
    # the row whose timestamp did not convert keeps its record as read, with the pseudonym
    (record,) = raw["ingest_raw"].dropna()
    assert json.loads(record)["user_id"] == pseudonym(BAD_TIMESTAMP_USER)

    validate.run(_params(project))
    quarantine = pd.read_parquet(project / "data/quarantine/validate.parquet")
    bad = quarantine[quarantine["table"] == "events"]
    assert len(bad) == 1
    assert json.loads(bad["record"].iloc[0])["user_id"] == pseudonym(BAD_TIMESTAMP_USER)
    validated = pd.read_parquet(project / "data/validated/events.parquet")
    assert len(validated) + len(bad) == events["read"]
    assert files_containing(project, USERS, exclude=[project / "source"]) == {}
    # the check can fail: the source itself holds every raw id
    assert set(files_containing(project / "source", USERS)["events.csv"]) == set(USERS)


def test_a_missing_key_is_one_clear_error_and_writes_nothing(project, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match="SHOPREC_ID_KEY"):
        ingest.run(_params(project))
    assert not (project / "data").exists()


def test_erased_users_events_are_quarantined_without_their_id(project):
    pseudonym = Pseudonymiser(KEY.encode())
    erasures = ErasureList.open(_params(project).privacy, project)
    erasures.add(pseudonym(USERS[0]), "dpo", "request 1")
    # an entry recorded with the raw id (before pseudonymisation was switched on) still applies
    erasures.add(BAD_TIMESTAMP_USER, "dpo", "request 2")

    report = ingest.run(_params(project))
    events = report["counts"]["events"]
    assert events == {"read": 36, "used": 30, "quarantined": 6}
    assert report["quarantine_reasons"] == {ERASED: 6}
    assert report["privacy"]["erased_events"] == 6
    raw = pd.read_parquet(project / "data/raw/events.parquet")
    forgotten = {pseudonym(USERS[0]), pseudonym(BAD_TIMESTAMP_USER)}
    assert not forgotten & set(raw["user_id"])
    assert raw["ingest_raw"].isna().all()  # the one bad row was the erased user's
    # source rows still point into the file: the first user's rows 0-2, the third's 6-8
    assert sorted(set(range(36)) - set(raw["source_row"])) == [0, 1, 2, 6, 7, 8]
    quarantine = pd.read_parquet(project / "data/quarantine/ingest.parquet")
    assert sorted(quarantine["source_row"]) == [0, 1, 2, 6, 7, 8]
    for record in quarantine["record"]:
        assert json.loads(record)["user_id"] is None
    text = "".join(quarantine["record"])
    assert not any(u in text for u in forgotten)


ONLINE_RETAIL_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
)


def test_online_retail_customer_ids_are_pseudonymised_in_quarantine_records_too(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text(
        ONLINE_RETAIL_HEADER
        + "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
        + "C536379,85123A,HEART,-1,2010-12-01 09:41:00,2.55,17850.0,United Kingdom\n"
        + "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,13047.0,United Kingdom\n"
    )
    data = read_online_retail(path)
    pseudonym = Pseudonymiser(KEY.encode())
    erased = protect_users(data, pseudonym, frozenset({pseudonym("13047")}))
    assert erased == 1
    assert list(data.events["user_id"]) == [pseudonym("17850")]
    reasons = dict(zip(data.quarantine["source_row"], data.quarantine["reason"], strict=True))
    assert reasons == {1: "cancellation_invoice", 2: ERASED}
    q = data.quarantine
    records = {r: json.loads(t) for r, t in zip(q["source_row"], q["record"], strict=True)}
    # the same pseudonym as the user's events (CustomerID 17850.0 is user 17850)
    assert records[1]["CustomerID"] == pseudonym("17850")
    # the erased event, set aside by ingest, as its canonical row without the user
    assert records[2]["user_id"] is None and records[2]["item_id"] == "22633"
    assert "17850" not in data.quarantine.to_json() and "13047" not in data.quarantine.to_json()
    counts = data.counts()["events"]
    assert counts["read"] == 3 == counts["used"] + counts["quarantined"]
