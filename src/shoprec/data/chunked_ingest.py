"""Ingest of canonical event files chunk by chunk, so no stage process holds the whole log.

With ``compute.engine: dask`` the ``files`` source's events are read in chunks of
``compute.partition_rows`` rows (CSV through pandas' own chunked reader, Parquet by record
batches), and each chunk is converted, pseudonymised, erased and packed exactly as the whole
table would be, then appended to ``data/raw/events.parquet``. The result, read back, equals the
local engine's table row for row (tested); only the quarantine (small by nature) and the
counts stay in memory. Each chunk's rows keep their position in the file (``source_row``), so
quarantine records and validation still point into the source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shoprec.data import raw_table
from shoprec.data.protect import Pseudonym, protect_users
from shoprec.data.raw_table import SourceData, empty_quarantine
from shoprec.data.schema import coerce_events, numeric_time_unit
from shoprec.data.tables import parquet_column_max, read_table_chunks
from shoprec.io import staging_file

log = logging.getLogger(__name__)


@dataclass
class ChunkedEvents:
    """What ingest reports of the events it streamed: counts, set-aside rows, erasures."""

    staged: Path
    read: int = 0
    used: int = 0
    erased: int = 0
    chunks: int = 0
    quarantine: pd.DataFrame = field(default_factory=empty_quarantine)

    def counts(self) -> dict[str, int]:
        return {"read": self.read, "used": self.used, "quarantined": len(self.quarantine)}

    def commit(self, target: Path) -> None:
        """The staged table becomes ``target`` (one rename)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        self.staged.replace(target)

    def discard(self) -> None:
        self.staged.unlink(missing_ok=True)


def _time_unit(path: Path) -> str | None:
    """The whole file's unit for numeric timestamps (a chunk alone could guess another)."""
    largest = parquet_column_max(path, "timestamp")
    return None if largest is None else numeric_time_unit(largest)


def ingest_event_chunks(
    path: str | Path,
    chunk_rows: int,
    pseudonym: Pseudonym | None,
    erased: frozenset[str],
    staging: Path,
) -> ChunkedEvents:
    """Read the events file ``path`` in chunks into a packed table staged in the folder
    ``staging``, which the caller ``commit``s to its place once the counts are checked (or
    ``discard``s)."""
    path = Path(path)
    unit = _time_unit(path)
    staged = staging_file(staging, "events")
    out = ChunkedEvents(staged=staged)
    quarantined: list[pd.DataFrame] = []
    writer: pq.ParquetWriter | None = None
    try:
        for raw in read_table_chunks(path, chunk_rows, dtype=str):
            table = _chunk(raw.reset_index(drop=True), out, quarantined, unit, pseudonym, erased)
            if writer is None:
                writer = pq.ParquetWriter(staged, table.schema)
            writer.write_table(table)
            log.info("ingest: %d events read (%d chunks)", out.read, out.chunks)
        if writer is not None:
            writer.close()
            writer = None
        else:  # no data row at all
            pd.DataFrame().to_parquet(staged, index=False)
    except BaseException:
        if writer is not None:
            writer.close()
        out.discard()
        raise
    if quarantined:
        out.quarantine = pd.concat(quarantined, ignore_index=True)
    return out


def _chunk(
    raw: pd.DataFrame,
    out: ChunkedEvents,
    quarantined: list[pd.DataFrame],
    unit: str | None,
    pseudonym: Pseudonym | None,
    erased: frozenset[str],
) -> pa.Table:
    """One chunk through the whole-table path: convert, protect, pack."""
    events, problems = coerce_events(raw, unit)
    data = SourceData(
        events=events,
        items=pd.DataFrame(),
        problems={"events": problems},
        raw={"events": raw},
        source_rows={"events": np.arange(out.read, out.read + len(raw), dtype=np.int64)},
    )
    out.erased += protect_users(data, pseudonym, erased)
    out.read += len(raw)
    out.used += len(data.events)
    out.chunks += 1
    if not data.quarantine.empty:
        quarantined.append(data.quarantine)
    packed = raw_table.pack(
        data.events, data.problems["events"], data.raw["events"], data.source_rows["events"]
    )
    return pa.Table.from_pandas(packed, preserve_index=False)
