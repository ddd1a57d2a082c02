"""An events table as Parquet partitions by day, so that no step needs the whole table at once.

Layout: ``<folder>/day=YYYY-MM-DD/part-NNNNN.parquet`` (Hive style: ``dataset()`` reads the
folder as one pyarrow dataset), and ``day=unknown`` for rows without a usable timestamp (they
still have to be validated and counted). The table is split as a stream of record batches, so
splitting holds one batch, never the table.

Every row keeps its place in the table it came from in ``row_position`` (0-based, counted over
all the sources in the order given): results computed per partition can be put back in source
order (``merge_in_order``), and a row's first copy is the copy with the lower position. Rows
that are exact copies have the same timestamp, so they always share a partition.

The unit of work is a *run*: consecutive days of at most ``partition_rows`` rows (a day above
that is a run on its own; days are never cut, or duplicates could fall apart).
"""

from __future__ import annotations

import shutil
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

POSITION = "row_position"
UNKNOWN_DAY = "unknown"
BATCH_ROWS = 200_000  # rows read (and written) at a time while splitting and merging
MAX_OPEN_FILES = 128  # day files kept open while splitting; a day seen again gets a new part

_UNITS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


@dataclass
class DayPartition:
    day: str  # YYYY-MM-DD, or "unknown"
    paths: list[Path] = field(default_factory=list)  # in the order written: rows by position
    rows: int = 0


@dataclass
class DayPartitions:
    """The partitions of one table, by day (``unknown`` last), and its columns (without
    ``row_position``)."""

    folder: Path
    days: list[DayPartition]
    columns: list[str]

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days)

    def runs(self, partition_rows: int) -> list[list[str]]:
        """The files of each run of consecutive days with at most ``partition_rows`` rows
        (as strings: a run is what a Dask task is given)."""
        runs: list[list[str]] = []
        current: list[str] = []
        size = 0
        for day in self.days:
            if current and size + day.rows > partition_rows:
                runs.append(current)
                current, size = [], 0
            current += [str(p) for p in day.paths]
            size += day.rows
        if current:
            runs.append(current)
        return runs

    def dataset(self) -> ds.Dataset:
        """All partitions as one pyarrow dataset (``day`` from the folder names)."""
        return ds.dataset(self.folder, format="parquet", partitioning="hive")


def _batches(source, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if isinstance(source, pd.DataFrame):
        yield from pa.Table.from_pandas(source, preserve_index=False).to_batches(batch_rows)
        return
    yield from pq.ParquetFile(source).iter_batches(batch_size=batch_rows)


_NO_DAY = np.iinfo(np.int64).min


def _day_numbers(batch: pa.RecordBatch, column: str) -> np.ndarray:
    """The UTC day of each row as days since 1970 (``_NO_DAY`` without a timestamp)."""
    index = batch.schema.get_field_index(column)
    if index < 0 or not pa.types.is_timestamp(batch.schema.field(index).type):
        return np.full(batch.num_rows, _NO_DAY, dtype=np.int64)
    stamps = batch.column(index)
    known = stamps.is_valid().to_numpy(zero_copy_only=False)
    values = stamps.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    days = np.floor_divide(values, _UNITS_PER_DAY[stamps.type.unit])
    return np.where(known, days, _NO_DAY)


def _day_name(number: int) -> str:
    return UNKNOWN_DAY if number == _NO_DAY else str(np.datetime64(number, "D"))


class _Writers:
    """One Parquet writer per day, at most ``MAX_OPEN_FILES`` open (least recently used
    closed first; the next rows of that day go to a new part file)."""

    def __init__(self, folder: Path, schema: pa.Schema):
        self.folder, self.schema = folder, schema
        self.open: OrderedDict[str, pq.ParquetWriter] = OrderedDict()
        self.days: dict[str, DayPartition] = {}

    def write(self, day: str, table: pa.Table) -> None:
        writer = self.open.pop(day, None)
        if writer is None:
            if len(self.open) >= MAX_OPEN_FILES:
                self.open.popitem(last=False)[1].close()
            partition = self.days.setdefault(day, DayPartition(day))
            path = self.folder / f"day={day}" / f"part-{len(partition.paths):05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, self.schema)
            partition.paths.append(path)
        writer.write_table(table)
        self.days[day].rows += table.num_rows
        self.open[day] = writer

    def close(self) -> list[DayPartition]:
        for writer in self.open.values():
            writer.close()
        self.open.clear()
        known = sorted(d for d in self.days if d != UNKNOWN_DAY)
        order = known + ([UNKNOWN_DAY] if UNKNOWN_DAY in self.days else [])
        return [self.days[d] for d in order]


def split_by_day(
    sources: pd.DataFrame | str | Path | Sequence[pd.DataFrame | str | Path],
    folder: str | Path,
    *,
    timestamp: str = "timestamp",
    batch_rows: int = BATCH_ROWS,
) -> DayPartitions:
    """Write ``sources`` (frames or Parquet files with the same columns, one table in the
    order given) to ``folder`` as day partitions; ``folder`` is replaced."""
    if isinstance(sources, pd.DataFrame | str | Path):
        sources = [sources]
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    writers: _Writers | None = None
    columns: list[str] = []
    offset = 0
    try:
        for source in sources:
            for batch in _batches(source, batch_rows):
                if writers is None:
                    columns = list(batch.schema.names)
                    writers = _Writers(folder, batch.schema.append(pa.field(POSITION, pa.int64())))
                positions = pa.array(np.arange(offset, offset + batch.num_rows, dtype=np.int64))
                offset += batch.num_rows
                table = pa.Table.from_batches([batch]).append_column(POSITION, positions)
                if not table.schema.equals(writers.schema, check_metadata=False):
                    table = table.cast(writers.schema)
                days = pd.Series(_day_numbers(batch, timestamp))
                for day, rows in days.groupby(days, sort=False).indices.items():
                    table_rows = table if len(rows) == len(days) else table.take(rows)
                    writers.write(_day_name(int(day)), table_rows)
    finally:
        days_written = writers.close() if writers is not None else []
    return DayPartitions(folder, days_written, columns)


def read_run(paths: Sequence[str | Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of a run as pandas reads the table whole (same dtypes), in source order,
    ``row_position`` included."""
    wanted = None if columns is None else list(dict.fromkeys([*columns, POSITION]))
    # partitioning=None: the file's own columns, not a ``day`` column made from the folder
    frames = [pd.read_parquet(p, columns=wanted, partitioning=None) for p in paths]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(frames) > 1:
        frame = frame.sort_values(POSITION, kind="stable", ignore_index=True)
    return frame


def write_run(frame: pd.DataFrame, path: str | Path) -> Path:
    """A run's result rows (``row_position`` included, in position order) as one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def merge_in_order(
    paths: Sequence[str | Path], target: str | Path, *, batch_rows: int = BATCH_ROWS
) -> int:
    """Write the rows of ``paths`` (each in position order) to ``target`` in position order,
    without ``row_position``: a k-way merge by windows of positions, holding about one window
    and one batch per file. Replaces ``target`` atomically; returns the rows written."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if not paths:
        raise ValueError("merge_in_order: no files to merge")
    empty = pq.ParquetFile(paths[0]).schema_arrow.empty_table().to_pandas()
    schema = pa.Schema.from_pandas(empty.drop(columns=POSITION), preserve_index=False)
    streams = [pq.ParquetFile(p).iter_batches(batch_size=batch_rows) for p in paths]
    buffers: list[pa.Table | None] = [None] * len(streams)
    written = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        while True:
            for k in range(len(streams)):
                while streams[k] is not None and _last(buffers[k]) < 0:
                    buffers[k], streams[k] = _next(streams[k], buffers[k])
            heads = [b.column(POSITION)[0].as_py() for b in buffers if b is not None and len(b)]
            if not heads:
                break
            high = min(heads) + batch_rows
            pieces = []
            for k in range(len(streams)):
                while streams[k] is not None and _last(buffers[k]) < high:
                    buffers[k], streams[k] = _next(streams[k], buffers[k])
                if buffers[k] is None or not len(buffers[k]):
                    continue
                column = buffers[k].column(POSITION).to_numpy()
                cut = int(np.searchsorted(column, high, side="left"))
                pieces.append(buffers[k].slice(0, cut).replace_schema_metadata(None))
                buffers[k] = buffers[k].slice(cut)
            window = pa.concat_tables(pieces).sort_by(POSITION).drop_columns([POSITION])
            writer.write_table(window.cast(schema))
            written += window.num_rows
    tmp.replace(target)
    return written


def _next(stream, buffer: pa.Table | None) -> tuple[pa.Table | None, Iterator | None]:
    """``buffer`` with the stream's next batch appended (the stream is None once done)."""
    try:
        batch = pa.Table.from_batches([next(stream)])
    except StopIteration:
        return buffer, None
    if buffer is None or not len(buffer):
        return batch, stream
    return pa.concat_tables([buffer, batch]), stream


def _last(buffer: pa.Table | None) -> int:
    if buffer is None or not len(buffer):
        return -1
    return buffer.column(POSITION)[-1].as_py()


__all__ = [
    "POSITION",
    "DayPartition",
    "DayPartitions",
    "merge_in_order",
    "read_run",
    "split_by_day",
    "write_run",
]
