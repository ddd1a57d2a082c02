"""Stage ``validate``: quarantine bad rows, reject bad batches (``shoprec.validation``).

Writes the human report (``reports/validation/index.html``) and its JSON summary on every
run. An accepted batch replaces ``data/validated/`` and ``data/quarantine/validate.parquet``
and becomes the baseline the next batch is compared with. A rejected batch stops the
pipeline with one readable message and replaces nothing else: DVC keeps these outputs
(``persist``), so the last good data, features, models and metrics stay as they were.

With ``compute.engine: dask`` the raw events are split into day partitions in a temporary
folder under ``data/`` and validated run by run on the cluster
(``shoprec.validation.partitioned``); the outputs are the local engine's.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from shoprec import layout
from shoprec.compute import dask_client
from shoprec.config import Params
from shoprec.data import raw_table
from shoprec.data.partitions import split_by_day
from shoprec.errors import DataError
from shoprec.io import read_json, read_parquet, write_parquet
from shoprec.validation.baseline import load_profile
from shoprec.validation.batch import ValidationOutcome, validate_batch
from shoprec.validation.partitioned import validate_partitioned
from shoprec.validation.report import write_report

log = logging.getLogger(__name__)


def run(params: Params) -> ValidationOutcome:
    with dask_client(params.compute) as client:
        if params.compute.engine == "dask":
            return _run_by_day(params, client)
    return _run_in_memory(params)


def _run_in_memory(params: Params) -> ValidationOutcome:
    raw = {
        "events": raw_table.unpack(read_parquet(layout.RAW / layout.EVENTS_FILE)),
        "items": raw_table.unpack(read_parquet(layout.RAW / layout.ITEMS_FILE)),
    }
    ingest = read_json(layout.REPORTS / "ingest.json")
    outcome = validate_batch(
        raw["events"].table,
        raw["items"].table,
        params.validation,
        problems={k: u.problems for k, u in raw.items() if u.problems is not None},
        source_rows={k: u.source_rows for k, u in raw.items() if u.source_rows is not None},
        baseline=load_profile(layout.VALIDATION_BASELINE),
        source_key=ingest.get("source_key", ""),
    )
    for table, unpacked in raw.items():
        raw_table.restore_records(outcome.quarantine, table, unpacked)
    report = write_report(outcome.summary(), layout.VALIDATION_REPORT)
    if not outcome.accepted:
        raise DataError(f"batch rejected: {outcome.message} (report: {report})")
    write_parquet(outcome.events, layout.VALIDATED / layout.EVENTS_FILE)
    _finish(outcome)
    return outcome


def _run_by_day(params: Params, client) -> ValidationOutcome:
    """The same outputs as ``_run_in_memory``, with the events one run of days at a time."""
    raw_events = layout.RAW / layout.EVENTS_FILE
    if not raw_events.exists():
        read_parquet(raw_events)  # the local engine's error
    items = raw_table.unpack(read_parquet(layout.RAW / layout.ITEMS_FILE))
    ingest = read_json(layout.REPORTS / "ingest.json")
    layout.DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".validate-", dir=layout.DATA) as work:
        work = Path(work).resolve()
        result = validate_partitioned(
            split_by_day(raw_events, work / "events"),
            items.table,
            params.validation,
            work_dir=work / "accepted",
            client=client,
            partition_rows=params.compute.partition_rows,
            problems=items.problems,
            source_rows=items.source_rows,
            baseline=load_profile(layout.VALIDATION_BASELINE),
            source_key=ingest.get("source_key", ""),
        )
        outcome = result.outcome
        raw_table.restore_records(outcome.quarantine, "items", items)
        report = write_report(outcome.summary(), layout.VALIDATION_REPORT)
        if not outcome.accepted:
            raise DataError(f"batch rejected: {outcome.message} (report: {report})")
        result.write_events(layout.VALIDATED / layout.EVENTS_FILE)
    _finish(outcome)
    return outcome


def _finish(outcome: ValidationOutcome) -> None:
    """An accepted batch's items, quarantine and profile (the events are written by then)."""
    write_parquet(outcome.items, layout.VALIDATED / layout.ITEMS_FILE)
    write_parquet(outcome.quarantine, layout.QUARANTINE / "validate.parquet")
    outcome.profile.save(layout.VALIDATION_BASELINE)
    for table, c in outcome.counts().items():
        log.info(
            "%s: %d in = %d accepted + %d quarantined",
            table,
            c["in"],
            c["accepted"],
            c["quarantined"],
        )
