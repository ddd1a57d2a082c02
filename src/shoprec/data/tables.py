"""Read a table from CSV, gzip-compressed CSV or Parquet with one readable error on failure."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa

from shoprec.errors import DataError

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def table_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise DataError(f"{path}: unknown table format; use .csv, .csv.gz or .parquet")


def read_table(path: str | Path, dtype: object = None) -> pd.DataFrame:
    """Read ``path`` (CSV, CSV.gz or Parquet); ``dtype`` applies to CSV columns only.

    A UTF-8 byte-order mark at the start of a CSV file is accepted and dropped.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")
    kind = table_format(path)
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=dtype, keep_default_na=True, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: broken gzip data ({exc})") from None
    except (pd.errors.ParserError, pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read {kind} ({str(exc).splitlines()[0]})") from None
