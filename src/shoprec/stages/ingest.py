"""Stage ``ingest``: read the configured source into canonical Parquet tables.

Rows the source adapter cannot use go to ``data/quarantine/ingest.parquet`` with a reason;
``reports/ingest.json`` holds the counts (read = used + quarantined, per table). Values that
do not convert (a bad timestamp, a price that is not a number) stay in the tables, marked in
an ``ingest_problem`` column, for ``validate`` to quarantine. Outputs are only replaced once
the whole source was read, so a broken input leaves the previous ones in place.

Privacy (docs/privacy.md): with ``privacy.pseudonymise_users`` every user id becomes its keyed
pseudonym before anything is written (tables, quarantine records, reports), and every event of
a user on the deletion list (``privacy.erasures``) is quarantined with reason ``erased``. The
report records the key's public ``key_id``, never the key.

With ``compute.engine: dask`` a ``files`` source's events are read in chunks of
``compute.partition_rows`` rows (``shoprec.data.chunked_ingest``): the same tables, counts and
quarantine, without the whole log in this process's memory.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pandas as pd

from shoprec import layout
from shoprec.config import FilesSource, Params
from shoprec.data import raw_table
from shoprec.data.chunked_ingest import ChunkedEvents, ingest_event_chunks
from shoprec.data.protect import protect_users
from shoprec.data.raw_table import SourceData
from shoprec.data.sources import load_source, read_canonical_items
from shoprec.errors import DataError
from shoprec.io import write_json, write_parquet
from shoprec.privacy.erasures import ErasureList
from shoprec.privacy.pseudonym import pseudonymiser

log = logging.getLogger(__name__)


def source_key(params: Params) -> str:
    """Identifies the source, so validation compares a batch only with batches of the same one."""
    spec = json.dumps(params.data.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def run(params: Params) -> dict:
    pseudonym = pseudonymiser(params.privacy)  # a missing key fails before the source is read
    in_chunks = params.compute.engine == "dask" and isinstance(params.data, FilesSource)
    # items are small and read whole; in chunks, the events are read below
    data = read_canonical_items(params.data.items) if in_chunks else load_source(params.data)
    listed = ErasureList.open(params.privacy).ids()
    erased = frozenset(pseudonym.many(sorted(listed))) if pseudonym else listed
    chunked: ChunkedEvents | None = None
    if in_chunks:
        chunked = ingest_event_chunks(
            params.data.events, params.compute.partition_rows, pseudonym, erased, layout.RAW
        )
        erased_events = chunked.erased
        data.quarantine = pd.concat([chunked.quarantine, data.quarantine], ignore_index=True)
        counts = {"events": chunked.counts(), "items": data.counts()["items"]}
    else:
        erased_events = protect_users(data, pseudonym, erased)
        counts = data.counts()
    try:
        _check(counts, params.data.source)
    except DataError:
        if chunked is not None:
            chunked.discard()
        raise
    if chunked is None:
        _write_packed(data, "events", layout.RAW / layout.EVENTS_FILE)
    else:
        chunked.commit(layout.RAW / layout.EVENTS_FILE)
    _write_packed(data, "items", layout.RAW / layout.ITEMS_FILE)
    write_parquet(data.quarantine, layout.QUARANTINE / "ingest.parquet")
    reasons = data.quarantine.groupby("reason").size().sort_index().to_dict()
    report = {
        "source": params.data.source,
        "source_key": source_key(params),
        "counts": counts,
        "quarantine_reasons": {str(k): int(v) for k, v in reasons.items()},
        "notes": data.notes,
        "privacy": {
            "pseudonymised_users": pseudonym is not None,
            "key_id": pseudonym.key_id if pseudonym else None,  # tells keys apart; not the key
            "erasure_entries": len(listed),
            "erased_events": erased_events,
        },
    }
    write_json(layout.REPORTS / "ingest.json", report)
    return report


def _write_packed(data: SourceData, table: str, target) -> None:
    frame = getattr(data, table)
    marked = raw_table.pack(
        frame, data.problems.get(table), data.raw.get(table), data.source_rows.get(table)
    )
    write_parquet(marked, target)


def _check(counts: dict[str, dict[str, int]], source: str) -> None:
    """Every table's rows read = used + quarantined, and some of each used."""
    for table, c in counts.items():
        if c["read"] != c["used"] + c["quarantined"]:
            raise DataError(
                f"ingest: {table} counts do not add up: read {c['read']} != "
                f"used {c['used']} + quarantined {c['quarantined']}"
            )
        log.info(
            "%s: read %d, used %d, quarantined %d", table, c["read"], c["used"], c["quarantined"]
        )
    for table, c in counts.items():
        if c["used"] == 0:
            raise DataError(f"ingest: the source {source!r} has no {table} rows")
