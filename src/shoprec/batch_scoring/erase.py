"""Forgotten users taken out of batch outputs that were already written.

``shoprec privacy forget`` calls ``erase_users`` on ``batch_scoring.output`` (a folder or
``s3://bucket/prefix``): every ``part-NNNNN.parquet`` of every run folder under it that holds
one of the users is read and written again whole without their rows (one ``put``: a reader sees
the old part or the new one, never half of one). The run's ``_SUCCESS.json`` then counts the
rows and users that are left and lists the erasure (when and how many rows, never whose).
``_plan.json`` is kept as it is, so a rerun of the same batch still resumes: its existing parts
are skipped, and the parts it still has to score leave out every user on the deletion list
(``score.score_to_parquet``'s ``exclude``).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shoprec.batch_scoring.parts import open_output
from shoprec.batch_scoring.score import SUCCESS_FILE
from shoprec.errors import DataError
from shoprec.storage import NotFound, ObjectStore

PART = re.compile(r"(?:^|/)part-\d{5}\.parquet$")


@dataclass
class EraseResult:
    output: str
    parts_read: int = 0
    parts_rewritten: int = 0
    rows_removed: int = 0
    runs: list[str] = field(default_factory=list)  # run folders that had a part rewritten

    def to_dict(self) -> dict:
        return asdict(self)


def _without(data: bytes, users: pa.Array, name: str) -> tuple[bytes | None, int, int]:
    """The part without ``users``' rows (None when none of them is in it), the rows removed
    and the distinct users removed."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except pa.ArrowException as exc:
        raise DataError(f"{name}: not a readable Parquet part ({exc})") from None
    if "user_id" not in table.column_names:
        raise DataError(f"{name}: a batch part without a user_id column")
    hit = pc.is_in(table["user_id"], value_set=users)
    removed = pc.sum(hit).as_py() or 0
    if not removed:
        return None, 0, 0
    gone = len(pc.unique(table.filter(hit)["user_id"]))
    kept = table.filter(pc.invert(hit))
    sink = io.BytesIO()
    pq.write_table(kept, sink, compression="zstd")
    return sink.getvalue(), int(removed), gone


def _record(out: ObjectStore, run: str, rows: int, users: int) -> None:
    """``_SUCCESS.json`` of ``run`` (if the run finished) with the counts that are left."""
    key = f"{run}/{SUCCESS_FILE}" if run else SUCCESS_FILE
    try:
        stored = out.get(key)
    except NotFound:
        return  # a run still in progress: its own _SUCCESS.json counts the parts as they are
    try:
        success = json.loads(stored.data)
    except json.JSONDecodeError:
        return
    success["rows"] = max(0, int(success.get("rows", 0)) - rows)
    success["users"] = max(0, int(success.get("users", 0)) - users)
    erasures = list(success.get("erasures", []))
    erasures.append(
        {"at": datetime.now(UTC).isoformat(timespec="seconds"), "rows": rows, "users": users}
    )
    success["erasures"] = erasures
    out.put(key, (json.dumps(success, indent=2) + "\n").encode())


def erase_users(output: str, stored_ids: frozenset[str] | set[str]) -> EraseResult:
    """Remove every row of ``stored_ids`` (ids as the batch holds them: pseudonyms when
    pseudonymisation is on) from every part under ``output``."""
    out = open_output(output)
    result = EraseResult(output=out.location)
    if not stored_ids:
        return result
    users = pa.array(sorted(stored_ids), pa.string())
    by_run: dict[str, tuple[int, int]] = {}
    for key in out.list(""):
        if not PART.search(key):
            continue
        result.parts_read += 1
        kept, rows, gone = _without(out.get(key).data, users, f"{out.location}/{key}")
        if kept is None:
            continue
        out.put(key, kept)
        result.parts_rewritten += 1
        result.rows_removed += rows
        run = key.rpartition("/")[0]
        done_rows, done_users = by_run.get(run, (0, 0))
        by_run[run] = (done_rows + rows, done_users + gone)
    for run, (rows, gone) in sorted(by_run.items()):
        _record(out, run, rows, gone)
        result.runs.append(run or ".")
    return result
