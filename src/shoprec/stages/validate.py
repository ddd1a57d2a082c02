"""Stage ``validate``: quarantine bad rows, reject bad batches (``shoprec.validation``).

Writes the human report (``reports/validation/index.html``) and its JSON summary on every
run. An accepted batch replaces ``data/validated/`` and ``data/quarantine/validate.parquet``
and becomes the baseline the next batch is compared with. A rejected batch stops the
pipeline with one readable message and replaces nothing else: DVC keeps these outputs
(``persist``), so the last good data, features, models and metrics stay as they were.
"""

from __future__ import annotations

import logging

import pandas as pd

from shoprec import layout
from shoprec.config import Params
from shoprec.data.schema import PROBLEM_COLUMN, RAW_RECORD_COLUMN, SOURCE_ROW_COLUMN
from shoprec.errors import DataError
from shoprec.io import read_json, read_parquet, write_parquet
from shoprec.validation.baseline import load_profile
from shoprec.validation.batch import ValidationOutcome, validate_batch
from shoprec.validation.report import write_report

log = logging.getLogger(__name__)


BOOKKEEPING = (PROBLEM_COLUMN, SOURCE_ROW_COLUMN, RAW_RECORD_COLUMN)


def split_bookkeeping(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None, object]:
    """Separate ingest's bookkeeping columns (problem, source row, raw record) from the table."""
    problems = frame[PROBLEM_COLUMN] if PROBLEM_COLUMN in frame.columns else None
    rows = frame[SOURCE_ROW_COLUMN].to_numpy() if SOURCE_ROW_COLUMN in frame.columns else None
    table = frame.drop(columns=[c for c in BOOKKEEPING if c in frame])
    return table, problems, rows


def restore_raw_records(quarantine: pd.DataFrame, table: str, raw: pd.DataFrame) -> None:
    """Quarantine records of rows that did not convert show the values as read, not as NaN."""
    if RAW_RECORD_COLUMN not in raw.columns or quarantine.empty:
        return
    by_row = raw.set_index(SOURCE_ROW_COLUMN)[RAW_RECORD_COLUMN].dropna()
    mine = (quarantine["table"] == table).to_numpy()
    originals = quarantine.loc[mine, "source_row"].map(by_row)
    known = originals.notna()
    quarantine.loc[originals.index[known], "record"] = originals[known]


def run(params: Params) -> ValidationOutcome:
    raw_events = read_parquet(layout.RAW / layout.EVENTS_FILE)
    raw_items = read_parquet(layout.RAW / layout.ITEMS_FILE)
    events, event_problems, event_rows = split_bookkeeping(raw_events)
    items, item_problems, item_rows = split_bookkeeping(raw_items)
    ingest = read_json(layout.REPORTS / "ingest.json")
    outcome = validate_batch(
        events,
        items,
        params.validation,
        problems={
            k: v for k, v in (("events", event_problems), ("items", item_problems)) if v is not None
        },
        source_rows={
            k: v for k, v in (("events", event_rows), ("items", item_rows)) if v is not None
        },
        baseline=load_profile(layout.VALIDATION_BASELINE),
        source_key=ingest.get("source_key", ""),
    )
    for table, raw in (("events", raw_events), ("items", raw_items)):
        if SOURCE_ROW_COLUMN in raw.columns:
            restore_raw_records(outcome.quarantine, table, raw)
    report = write_report(outcome.summary(), layout.VALIDATION_REPORT)
    if not outcome.accepted:
        raise DataError(f"batch rejected: {outcome.message} (report: {report})")
    write_parquet(outcome.events, layout.VALIDATED / layout.EVENTS_FILE)
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
    return outcome
