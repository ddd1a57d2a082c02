"""Stage ``ingest``: read the configured source into canonical Parquet tables.

Rows the source could not use go to ``data/quarantine/ingest.parquet`` with a reason;
``reports/ingest.json`` holds the counts (read = used + quarantined, per table).
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.data.sources import load_source
from shoprec.errors import DataError
from shoprec.io import write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    data = load_source(params.data)
    counts = data.counts()
    for table, c in counts.items():
        if c["read"] != c["used"] + c["quarantined"]:
            raise DataError(
                f"ingest: {table} counts do not add up: read {c['read']} != "
                f"used {c['used']} + quarantined {c['quarantined']}"
            )
        log.info(
            "%s: read %d, used %d, quarantined %d", table, c["read"], c["used"], c["quarantined"]
        )
    if data.events.empty:
        raise DataError(f"ingest: the source {params.data.source!r} produced no usable events")
    write_parquet(data.events, layout.RAW / layout.EVENTS_FILE)
    write_parquet(data.items, layout.RAW / layout.ITEMS_FILE)
    write_parquet(data.quarantine, layout.QUARANTINE / "ingest.parquet")
    reasons = data.quarantine.groupby("reason").size().sort_index().to_dict()
    report = {
        "source": params.data.source,
        "counts": counts,
        "quarantine_reasons": {str(k): int(v) for k, v in reasons.items()},
        "notes": data.notes,
    }
    write_json(layout.REPORTS / "ingest.json", report)
    return report
