"""The impressions log: what the service recommended, to whom, from which model version.

One row per answered request (``request_id``, ``served_at``, ``user_id`` as the service
stores it, pseudonymised when that is on, ``model``, ``version``, ``fallback``, the ranked
``items`` and their ``ranks``, ``endpoint``, ``k``, ``category``, and for ``similar`` the
``seed_item``). The service hands rows to an
``ImpressionWriter``, which writes them in the background as Parquet parts
(``date=YYYY-MM-DD/part-<time>-<pid>-<n>.parquet``) to a folder or S3 every flush interval:
the request path only appends to a list. A clean shutdown writes what is left; a crash
loses at most the last interval. The monitoring flow reads them back with
``read_impressions``.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shoprec.storage import ObjectStore, open_store

log = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("served_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.int64()),
        pa.field("fallback", pa.bool_(), nullable=False),
        pa.field("items", pa.list_(pa.string()), nullable=False),
        pa.field("ranks", pa.list_(pa.int32()), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("k", pa.int32(), nullable=False),
        pa.field("category", pa.string()),
        pa.field("seed_item", pa.string()),  # /v1/similar: the item the list is similar to
    ]
)
COLUMNS = tuple(SCHEMA.names)
PART_PREFIX = "date="


def open_log(uri: str | Path, root: str | Path = ".") -> ObjectStore:
    """The store of ``serving.impressions``: s3://bucket/prefix, or a folder relative to
    ``root``."""
    text = str(uri)
    return open_store(text if "://" in text else Path(root) / text)


def part_bytes(rows: list[dict]) -> bytes:
    """One Parquet part of ``rows`` (dicts with the ``SCHEMA`` columns)."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


class ImpressionWriter:
    """Collects impression rows and writes them as Parquet parts from a background thread.

    ``record`` is cheap (a list append under a lock). Every ``flush_s`` seconds the thread
    swaps the list out and writes one part per day present; ``close`` stops it and writes
    the rest. A part that fails to write is kept and retried at the next flush (and logged),
    so a store that is briefly unreachable loses nothing."""

    def __init__(self, store: ObjectStore, flush_s: float = 1.0) -> None:
        self.store = store
        self.flush_s = flush_s
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._parts = 0
        self.written = 0  # rows written so far (for tests and the shutdown log line)

    def start(self) -> ImpressionWriter:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="shoprec-impressions", daemon=True
            )
            self._thread.start()
        return self

    def record(self, row: dict) -> None:
        with self._lock:
            self._rows.append(row)

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()

    def flush(self) -> int:
        """Write what was recorded so far; returns the rows written."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        by_day: dict[str, list[dict]] = {}
        for row in rows:
            by_day.setdefault(row["served_at"].strftime("%Y-%m-%d"), []).append(row)
        written = 0
        for day, day_rows in sorted(by_day.items()):
            self._parts += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            key = (
                f"{PART_PREFIX}{day}/part-{stamp}-{os.getpid()}-{self._parts:06d}-"
                f"{uuid.uuid4().hex[:8]}.parquet"
            )
            try:
                self.store.put(key, part_bytes(day_rows))
            except Exception as exc:  # kept for the next flush, never lost
                log.warning(
                    "impressions: could not write %d rows (%s); retrying", len(day_rows), exc
                )
                with self._lock:
                    self._rows[:0] = day_rows
                continue
            written += len(day_rows)
        self.written += written
        return written

    def close(self) -> None:
        """Stop the thread and write what is left (a clean shutdown loses nothing)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        if self.pending():
            log.error("impressions: %d rows could not be written at shutdown", self.pending())


def impression(
    request_id: str,
    user_id: str,
    model: str,
    version: int | None,
    fallback: bool,
    items: list[str],
    endpoint: str = "recommendations",
    k: int | None = None,
    category: str | None = None,
    served_at: datetime | None = None,
    seed_item: str | None = None,
) -> dict:
    """One row of the log."""
    return {
        "request_id": request_id,
        "served_at": served_at or datetime.now(UTC),
        "user_id": user_id,
        "model": model,
        "version": version,
        "fallback": fallback,
        "items": items,
        "ranks": list(range(1, len(items) + 1)),
        "endpoint": endpoint,
        "k": len(items) if k is None else k,
        "category": category,
        "seed_item": seed_item,
    }


def read_impressions(
    store: ObjectStore, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """Every impression served in ``[since, until)`` (both optional), oldest first; only the
    day folders in that range are read."""
    keys = [k for k in store.list("") if k.startswith(PART_PREFIX) and k.endswith(".parquet")]
    if since is not None:
        keys = [k for k in keys if k.split("/", 1)[0] >= f"{PART_PREFIX}{since:%Y-%m-%d}"]
    if until is not None:
        keys = [k for k in keys if k.split("/", 1)[0] <= f"{PART_PREFIX}{until:%Y-%m-%d}"]
    tables = [pq.read_table(io.BytesIO(store.get(k).data), schema=SCHEMA) for k in keys]
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    frame = table.to_pandas()
    if since is not None:
        frame = frame[frame["served_at"] >= pd.Timestamp(since)]
    if until is not None:
        frame = frame[frame["served_at"] < pd.Timestamp(until)]
    return frame.sort_values(["served_at", "request_id"], kind="stable").reset_index(drop=True)
