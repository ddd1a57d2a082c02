"""The temporal split of a validated events file, record batch by record batch.

With ``compute.engine: dask`` and ``split.strategy: temporal`` the ``split`` stage does not
load the events: one pass reads the timestamp column for the cuts (``temporal_bounds``, as the
whole-table split), a second streams the file's record batches and appends each row to its
part's Parquet file, in file order. Only the distinct user ids of each part stay in memory
(for the report's user counts and ``cuts.parquet``). The parts, read back, equal
``temporal_split``'s (tested). ``leave_last_out`` needs each user's events together, so it
still reads the whole table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shoprec.data.split import PARTS, Cuts, temporal_bounds, temporal_parts
from shoprec.errors import ConfigError
from shoprec.io import staging_file

log = logging.getLogger(__name__)


def _time_range(path: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    stamps = pq.read_table(path, columns=["timestamp"]).column("timestamp")
    low, high = pc.min_max(stamps).values()
    if not low.is_valid:
        raise ConfigError("split: there are no events to split")
    return pd.Timestamp(low.as_py()).tz_convert("UTC"), pd.Timestamp(high.as_py()).tz_convert("UTC")


def split_file_temporal(
    events: Path,
    folder: Path,
    test_days: int,
    validation_days: int,
    batch_rows: int,
) -> tuple[dict[str, object], Cuts, np.ndarray]:
    """Write ``folder/{train,validation,test}.parquet`` from the events file; returns the
    report's ``info``, the cuts and every user id (sorted, for ``cuts.parquet``)."""
    start, end = _time_range(events)
    info = temporal_bounds(start, end, test_days, validation_days)
    t1, t2 = pd.Timestamp(info["validation_start"]), pd.Timestamp(info["test_start"])
    source = pq.ParquetFile(events)
    schema = source.schema_arrow
    staged = {name: staging_file(folder, name) for name in PARTS}
    writers = {name: pq.ParquetWriter(staged[name], schema) for name in PARTS}
    rows = dict.fromkeys(PARTS, 0)
    users: dict[str, list[np.ndarray]] = {name: [] for name in PARTS}
    try:
        for batch in source.iter_batches(batch_size=batch_rows):
            frame = batch.to_pandas()
            part = temporal_parts(frame["timestamp"], t1, t2)
            for i, name in enumerate(PARTS):
                mine = frame[part == i]
                if mine.empty:
                    continue
                table = pa.Table.from_pandas(mine, schema=schema, preserve_index=False)
                writers[name].write_table(table)
                rows[name] += len(mine)
                users[name].append(np.unique(mine["user_id"].dropna().to_numpy(dtype=str)))
            log.info("split: %d events written", sum(rows.values()))
        for writer in writers.values():
            writer.close()
    except BaseException:
        for name, writer in writers.items():
            writer.close()
            staged[name].unlink(missing_ok=True)
        raise
    for name in PARTS:
        staged[name].replace(folder / f"{name}.parquet")
    distinct = {name: _union(users[name]) for name in PARTS}
    info["events"] = rows
    info["users"] = {name: len(distinct[name]) for name in PARTS}
    every_user = _union(list(distinct.values()))
    return info, Cuts.global_cuts(t1, t2), every_user


def _union(parts: list[np.ndarray]) -> np.ndarray:
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=str)
