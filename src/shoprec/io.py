"""Small helpers to read and write stage outputs: Parquet tables and stable JSON, atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from shoprec.errors import DataError


def _replace_atomically(path: Path, write) -> Path:
    """Write through a temporary sibling and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)
    return path


def write_json(path: str | Path, payload: Any) -> Path:
    text = json.dumps(_finite(payload), indent=2, sort_keys=False) + "\n"
    return _replace_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found (run the stage that writes it first)")
    return json.loads(path.read_text(encoding="utf-8"))


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    return _replace_atomically(Path(path), lambda tmp: df.to_parquet(tmp, index=False))


def read_parquet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found (run the stage that writes it first)")
    return pd.read_parquet(path)


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
