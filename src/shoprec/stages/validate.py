"""Stage ``validate``: check the ingested tables against the suites in ``expectations/``.

A failed or empty suite stops the pipeline with one readable message naming the
expectation, the column and example values; nothing downstream runs. Accepted tables are
written to ``data/validated/`` and a JSON summary to ``reports/validation.json``.
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import DataError
from shoprec.io import read_parquet, write_json, write_parquet
from shoprec.validation.suites import validate_table

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    tables = {
        "events": (read_parquet(layout.RAW / layout.EVENTS_FILE), params.validation.events_suite),
        "items": (read_parquet(layout.RAW / layout.ITEMS_FILE), params.validation.items_suite),
    }
    results = {name: validate_table(df, suite, name) for name, (df, suite) in tables.items()}
    summary = {
        "accepted": all(r.success for r in results.values()),
        "tables": {name: r.to_dict() for name, r in results.items()},
    }
    write_json(layout.REPORTS / "validation.json", summary)
    failed = [r for r in results.values() if not r.success]
    if failed:
        raise DataError(" | ".join(r.message() for r in failed))
    for name, (df, _) in tables.items():
        write_parquet(df, layout.VALIDATED / f"{name}.parquet")
        log.info("%s: %d rows accepted", name, len(df))
    return summary
