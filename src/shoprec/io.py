"""Small helpers to read and write stage outputs: Parquet tables and stable JSON, atomically."""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

from shoprec.errors import DataError


def replace_atomically(path: Path, write) -> Path:
    """Write through a temporary sibling and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)
    return path


def staging_file(folder: Path, prefix: str, suffix: str = ".parquet") -> Path:
    """A new empty hidden file in ``folder`` (created if needed) to write into and rename over
    its target once whole: same folder, so the rename is atomic."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{prefix}-", suffix=suffix, dir=folder)
    os.close(handle)
    return Path(name)


def write_json(path: str | Path, payload: Any) -> Path:
    text = json.dumps(_finite(payload), indent=2, sort_keys=False) + "\n"
    return replace_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found (run the stage that writes it first)")
    return json.loads(path.read_text(encoding="utf-8"))


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    return replace_atomically(Path(path), lambda tmp: df.to_parquet(tmp, index=False))


def read_parquet(
    path: str | Path, columns: list[str] | tuple[str, ...] | None = None
) -> pd.DataFrame:
    """The table at ``path``; with ``columns``, only those of them the file has."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found (run the stage that writes it first)")
    if columns is not None:
        present = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in present]
    return pd.read_parquet(path, columns=columns)


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# -- memory-mapped arrays -------------------------------------------------------------------
_LOCAL_HEADER = 30  # bytes of a zip member's local header before its name and extra field


def memory_mapped_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed ``.npz`` (``np.savez``, ``sp.save_npz(compressed=False)``),
    memory-mapped read-only in place: processes that map one file share its pages.

    Object arrays are refused (``allow_pickle=False``); a compressed member is an error, so
    the caller can fall back to ``np.load``."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as handle:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{path}: {info.filename} is compressed, it cannot be mapped")
            handle.seek(info.header_offset)
            header = handle.read(_LOCAL_HEADER)
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            handle.seek(info.header_offset + _LOCAL_HEADER + name_length + extra_length)
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
            if dtype.hasobject:
                raise ValueError(f"{path}: {info.filename} holds Python objects")
            key = info.filename.removesuffix(".npy")
            if int(np.prod(shape)) == 0:
                out[key] = np.zeros(shape, dtype=dtype)
                continue
            mapped = np.memmap(
                path, dtype, "r", offset=handle.tell(), shape=shape, order="F" if fortran else "C"
            )
            out[key] = np.asarray(mapped)
    return out


def memory_mapped_sparse(path: str | Path) -> sp.csr_matrix:
    """A ``sp.save_npz(compressed=False)`` CSR matrix whose arrays are memory-mapped."""
    parts = memory_mapped_npz(path)
    fmt = parts["format"].item() if "format" in parts else "csr"
    fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
    if fmt != "csr":
        return sp.load_npz(path).tocsr()
    shape = tuple(int(n) for n in parts["shape"])
    matrix = sp.csr_matrix(shape, dtype=parts["data"].dtype)
    # set the arrays directly: the constructor would check and may copy them
    matrix.data, matrix.indices, matrix.indptr = parts["data"], parts["indices"], parts["indptr"]
    return matrix
