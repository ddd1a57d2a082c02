"""Find raw user ids in whatever a run wrote, compressed or not.

A plain byte search misses an id inside a zstd-compressed Parquet page, a zip member (``.npz``,
``.keras``) or a gzip file, and numpy keeps text as UTF-32. So each file is searched as it is,
and also as it reads back: every member of a zip, a gunzipped file, every column and the
metadata of a Parquet file, each in UTF-8 and UTF-32-LE. Reusable for any output folder
(the service's logs and impressions too).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SKIPPED_DIRS = frozenset({".git", ".dvc", ".dvc-site-cache", "__pycache__"})


def _parquet_text(data: bytes) -> bytes:
    table = pq.read_table(pa.BufferReader(data))
    parts = [str(table.schema.metadata or {}).encode()]
    for column in table.columns:
        parts.append("\n".join(map(str, column.to_pylist())).encode())
    return b"\n".join(parts)


def readable_forms(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """``data`` itself and what it decompresses to (nested zips up to a few levels)."""
    yield data
    if depth > 3:
        return
    if data[:4] == b"PAR1":
        yield from _decoded(lambda: [_parquet_text(data)], pa.ArrowException)
    elif data[:2] == b"\x1f\x8b":
        inner = _decoded(lambda: [gzip.decompress(data)], OSError, EOFError)
        for blob in inner:
            yield from readable_forms(blob, depth + 1)
    elif data[:4] == b"PK\x03\x04":
        for blob in _decoded(lambda: _members(data), zipfile.BadZipFile):
            yield from readable_forms(blob, depth + 1)


def _members(data: bytes) -> list[bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [part for n in archive.namelist() for part in (n.encode(), archive.read(n))]


def _decoded(read, *errors: type[BaseException]) -> list[bytes]:
    """``read()``, or nothing when the file only looks like that format."""
    try:
        return read()
    except errors:
        return []


def _encodings(user_id: str) -> tuple[bytes, ...]:
    return (user_id.encode("utf-8"), user_id.encode("utf-32-le"))


def files_under(root: Path, exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Every file under ``root``, without .git/.dvc internals and the ``exclude`` paths."""
    excluded = [Path(p).resolve() for p in exclude]
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or SKIPPED_DIRS.intersection(path.relative_to(root).parts):
            continue
        resolved = path.resolve()
        if any(resolved == e or e in resolved.parents for e in excluded):
            continue
        yield path


def files_containing(
    root: Path, user_ids: Iterable[str], exclude: Iterable[Path] = ()
) -> dict[str, list[str]]:
    """``{file relative to root: [raw ids found in it]}`` for every file under ``root`` that
    holds one of ``user_ids`` (empty: none does)."""
    needles = {u: _encodings(u) for u in user_ids}
    found: dict[str, list[str]] = {}
    for path in files_under(root, exclude):
        forms = list(readable_forms(path.read_bytes()))
        hits = [u for u, codes in needles.items() if any(c in f for f in forms for c in codes)]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found
