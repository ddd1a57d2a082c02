"""Validation by day partitions on a real Dask cluster equals the local engine, exactly.

Each batch goes through both: ``validate_batch`` on the whole table (as the ``validate`` stage
does with ``engine: local``) and ``validate_partitioned`` on its day partitions, in runs of a
few days, as tasks on the session's ``LocalCluster``. Counts, quarantine reasons (and their
order), the quarantine itself, messages, the report summary, the accepted rows (in source
order) and the profile must be the same, and rows in = accepted + quarantined. The batches
are the malformed exports of ``test_batch`` (bad rows of every kind, copies, a bot, volume
and mix against a baseline), one shuffled so that days interleave, and the tiny shop.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shoprec.compute import dask_client
from shoprec.config import ComputeParams, Params, SyntheticSource
from shoprec.data import raw_table
from shoprec.data.partitions import split_by_day
from shoprec.data.sources import read_canonical_files
from shoprec.errors import DataError
from shoprec.stages import run_stage
from shoprec.validation.baseline import load_profile
from shoprec.validation.batch import (
    TableCheck,
    ValidationOutcome,
    validate_batch,
    validate_files,
)
from shoprec.validation.partitioned import (
    PartitionedCheck,
    PartitionedValidation,
    ordered_reason_counts,
    validate_partitioned,
)
from tests.validation import test_batch as corpus

NOW = datetime.now(UTC)
RUN_ROWS = 2_000  # the corpus shop has 6,580 events over 21 days: four runs of days


@pytest.fixture(scope="module")
def settings():
    return corpus._settings()


@pytest.fixture(scope="module")
def shop(tmp_path_factory, settings) -> corpus.Shop:
    shop = corpus.Shop(tmp_path_factory.mktemp("shop"))
    accepted = validate_files(shop.events_csv, shop.items_csv, settings, shop.baseline)
    assert accepted.accepted
    return shop


@pytest.fixture(scope="module")
def client(dask_scheduler):
    with dask_client(ComputeParams(engine="dask", address=dask_scheduler)) as client:
        yield client


def _packed(events, items, problems=None, raw=None) -> dict[str, pd.DataFrame]:
    """The tables as ingest writes them (``data/raw``)."""
    problems, raw = problems or {}, raw or {}
    return {
        t: raw_table.pack(frame, problems.get(t), raw.get(t))
        for t, frame in (("events", events), ("items", items))
    }


def both_engines(
    packed: dict, settings, client, folder: Path, baseline=None, run_rows: int = RUN_ROWS
) -> tuple[ValidationOutcome, PartitionedValidation]:
    """The stage's two paths on the same packed tables (ingest's format)."""
    keys = {"baseline": baseline, "source_key": "files", "now": NOW}
    raw = {t: raw_table.unpack(frame) for t, frame in packed.items()}
    local = validate_batch(
        raw["events"].table,
        raw["items"].table,
        settings,
        problems={t: u.problems for t, u in raw.items() if u.problems is not None},
        source_rows={t: u.source_rows for t, u in raw.items() if u.source_rows is not None},
        **keys,
    )
    for table, unpacked in raw.items():
        raw_table.restore_records(local.quarantine, table, unpacked)
    items = raw["items"]
    result = validate_partitioned(
        split_by_day(packed["events"], folder / "days", batch_rows=1_500),
        items.table,
        settings,
        work_dir=folder / "accepted",
        client=client,
        partition_rows=run_rows,
        problems=items.problems,
        source_rows=items.source_rows,
        **keys,
    )
    raw_table.restore_records(result.outcome.quarantine, "items", items)
    return local, result


def assert_same(local: ValidationOutcome, result: PartitionedValidation, folder: Path) -> None:
    outcome = result.outcome
    assert outcome.accepted is local.accepted
    assert outcome.message == local.message
    # the whole report, key order and NaN examples included
    assert json.dumps(outcome.summary()) == json.dumps(local.summary())
    assert outcome.counts() == local.counts()
    for table in ("items", "events"):
        assert list(outcome.checks[table].reason_counts().items()) == list(
            local.checks[table].reason_counts().items()
        )
        c = outcome.counts()[table]
        assert c["in"] == c["accepted"] + c["quarantined"]
        assert (outcome.quarantine["table"] == table).sum() == c["quarantined"]
    assert isinstance(outcome.checks["events"], PartitionedCheck)
    pd.testing.assert_frame_equal(outcome.quarantine, local.quarantine)
    pd.testing.assert_frame_equal(outcome.items, local.items)
    assert outcome.profile == local.profile
    if local.accepted:
        target = folder / "validated.parquet"
        assert result.write_events(target) == len(local.events)
        local.events.to_parquet(folder / "local.parquet", index=False)
        pd.testing.assert_frame_equal(
            pd.read_parquet(target), pd.read_parquet(folder / "local.parquet")
        )


CASES = [
    "nan_user_ids",  # rows without a user: the per-user columns widen to NaN
    "first_rule_wins",  # several rules per row: the first one is the reason
    "some_unparseable_timestamps",  # no day: the unknown partition; raw records restored
    "duplicate_event_rows",  # copies found within a day
    "item_prices_abc",  # bad items cascade to events (unknown_item)
    "too_many_bad_rows",  # rejected on the share, with an example in the message
    "event_mix_change",  # batch rules against the baseline (KL divergence)
    "volume_drop",  # batch rules against the baseline (row count)
]


@pytest.mark.parametrize("name", CASES)
def test_the_dask_engine_answers_as_the_local_one(name, shop, settings, client, tmp_path):
    case = next(c for c in corpus.CASES if c.id == name)
    built = case.build(shop, tmp_path)
    data = read_canonical_files(built.events, built.items)
    packed = _packed(data.events, data.items, data.problems, data.raw)
    local, result = both_engines(
        packed, settings, client, tmp_path, baseline=load_profile(built.baseline)
    )
    assert (
        result.outcome.checks["events"].reason_counts() == corpus.expected_counts(built)["events"]
    )
    assert_same(local, result, tmp_path)


def test_busy_users_are_counted_over_every_run(shop, settings, client, tmp_path):
    """``bot_suspect`` needs each user's events of the whole batch, which span every run."""
    per_user = shop.canonical_events["user_id"].value_counts()
    limit = int(per_user.quantile(0.97))
    busy = settings.model_copy(update={"max_events_per_user": limit})
    data = read_canonical_files(shop.events_csv, shop.items_csv)
    packed = _packed(data.events, data.items, data.problems, data.raw)
    local, result = both_engines(packed, busy, client, tmp_path)
    flagged = int(per_user[per_user > limit].sum())
    assert result.outcome.checks["events"].reason_counts() == {"bot_suspect": flagged}
    assert_same(local, result, tmp_path)


def test_shuffled_rows_come_back_in_source_order(shop, settings, client, tmp_path):
    """Days interleave in the source and copies come before their originals: first copies,
    reasons, examples and the order of the accepted rows are still the local engine's."""
    built = corpus.duplicate_event_rows(shop, tmp_path)
    data = read_canonical_files(built.events, built.items)
    order = np.random.default_rng(4).permutation(len(data.events))
    events = data.events.iloc[order].reset_index(drop=True)
    problems = {"events": data.problems["events"].iloc[order].reset_index(drop=True)}
    raw = {"events": data.raw["events"].iloc[order].reset_index(drop=True)}
    packed = _packed(events, data.items, problems, raw)
    local, result = both_engines(packed, settings, client, tmp_path)
    assert local.checks["events"].reason_counts() == {"duplicate_event": 40}
    assert_same(local, result, tmp_path)


def test_the_tiny_shop_is_accepted_alike(tiny_shop, settings, client, tmp_path):
    """With a catalogue whose ids pass 100 kB: the rule parameters go to the workers once
    (``client.map`` cannot take a keyword argument that large)."""
    items = tiny_shop["items"]
    more = pd.concat([items] * 10, ignore_index=True)
    more["item_id"] = [f"extra-{k:06d}" for k in range(len(more))]
    catalogue = pd.concat([items, more], ignore_index=True)
    packed = _packed(tiny_shop["events"], catalogue)
    local, result = both_engines(packed, settings, client, tmp_path, run_rows=5_000)
    assert local.accepted and local.quarantine.empty
    assert len(result.accepted_runs) > 1
    assert_same(local, result, tmp_path)


def test_without_a_client_the_runs_go_one_by_one(shop, settings, tmp_path):
    built = corpus.nan_user_ids(shop, tmp_path)
    data = read_canonical_files(built.events, built.items)
    packed = _packed(data.events, data.items, data.problems, data.raw)
    local, result = both_engines(packed, settings, None, tmp_path)
    assert_same(local, result, tmp_path)


# -- the stage ---------------------------------------------------------------------------------
def _outputs(root: Path) -> dict:
    out = {
        name: pd.read_parquet(root / path)
        for name, path in (
            ("events", "data/validated/events.parquet"),
            ("items", "data/validated/items.parquet"),
            ("quarantine", "data/quarantine/validate.parquet"),
        )
    }
    out["baseline"] = (root / "reports/validation/baseline.json").read_text()
    out["summary"] = (root / "reports/validation/summary.json").read_text()
    return out


def _assert_same_outputs(a: dict, b: dict) -> None:
    for name in ("events", "items", "quarantine"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert a["baseline"] == b["baseline"]
    assert a["summary"] == b["summary"]


def test_the_validate_stage_writes_the_same_outputs(
    settings, dask_scheduler, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    local = Params(data=SyntheticSource(users=150, items=80, days=10, seed=7), validation=settings)
    dask = local.model_copy(
        update={"compute": ComputeParams(engine="dask", address=dask_scheduler, partition_rows=600)}
    )
    baseline = tmp_path / "reports/validation/baseline.json"
    run_stage("ingest", local)
    for compared in ("first batch", "against the baseline"):
        before = baseline.read_bytes() if baseline.exists() else None
        run_stage("validate", local)
        expected = _outputs(tmp_path)
        if before is None:
            baseline.unlink()
        else:
            baseline.write_bytes(before)
        run_stage("validate", dask)
        _assert_same_outputs(_outputs(tmp_path), expected)
        assert not list((tmp_path / "data").glob(".validate-*")), compared  # work removed


def test_a_row_rule_that_compares_rows_is_refused(shop, settings, tmp_path):
    suite = json.loads(Path(settings.events_suite).read_text())
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_unique",
            "kwargs": {"column": "session_id"},
            "meta": {"level": "row", "reason": "repeated_session"},
        }
    )
    path = tmp_path / "events.json"
    path.write_text(json.dumps(suite))
    data = read_canonical_files(shop.events_csv, shop.items_csv)
    days = split_by_day(data.events, tmp_path / "days")
    strict = settings.model_copy(update={"events_suite": path})
    with pytest.raises(DataError, match="expect_column_values_to_be_unique compare a row"):
        validate_partitioned(days, data.items, strict, work_dir=tmp_path / "accepted")


def test_reasons_are_ordered_as_value_counts_orders_them():
    """Most rows first, and ties in order of first appearance, whatever the mix."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, k = int(rng.integers(1, 40)), int(rng.integers(1, 12))
        labels = np.array([f"r{j}" for j in rng.permutation(k)])
        values = np.where(rng.random(n) < 0.3, None, rng.choice(labels, n))
        reasons = pd.Series(values, dtype="string")
        local = TableCheck("events", n, reasons, None).reason_counts()
        mine = ordered_reason_counts(reasons.dropna())
        assert list(mine.items()) == list(local.items())
