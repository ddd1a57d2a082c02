"""Stage ``validate``: quarantine bad rows, reject bad batches (``shoprec.validation``).

Writes the human report (``reports/validation/index.html``) and its JSON summary on every
run. An accepted batch replaces ``data/validated/`` and ``data/quarantine/validate.parquet``
and becomes the baseline the next batch is compared with. A rejected batch stops the
pipeline with one readable message and replaces nothing else: DVC keeps these outputs
(``persist``), so the last good data, features, models and metrics stay as they were.
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.data import raw_table
from shoprec.errors import DataError
from shoprec.io import read_json, read_parquet, write_parquet
from shoprec.validation.baseline import load_profile
from shoprec.validation.batch import ValidationOutcome, validate_batch
from shoprec.validation.report import write_report

log = logging.getLogger(__name__)


def run(params: Params) -> ValidationOutcome:
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
