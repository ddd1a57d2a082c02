"""Read a table from CSV, gzip-compressed CSV or Parquet with one readable error on failure."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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


def _checked(path: str | Path) -> tuple[Path, str]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")
    return path, table_format(path)


@contextmanager
def _readable(path: Path, kind: str) -> Iterator[None]:
    """Reading errors of ``path`` as one ``DataError`` line each."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: broken gzip data ({exc})") from None
    except (pd.errors.ParserError, pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read {kind} ({str(exc).splitlines()[0]})") from None


def read_table(path: str | Path, dtype: object = None) -> pd.DataFrame:
    """Read ``path`` (CSV, CSV.gz or Parquet); ``dtype`` applies to CSV columns only.

    A UTF-8 byte-order mark at the start of a CSV file is accepted and dropped.
    """
    path, kind = _checked(path)
    with _readable(path, kind):
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=dtype, keep_default_na=True, encoding="utf-8-sig")


def read_table_chunks(
    path: str | Path, chunk_rows: int, dtype: object = None
) -> Iterator[pd.DataFrame]:
    """``read_table`` as consecutive chunks of at most ``chunk_rows`` rows, in file order, so a
    table larger than memory can be read; the chunks together equal ``read_table(path)``."""
    path, kind = _checked(path)
    with _readable(path, kind):
        if kind == "parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
            return
        with pd.read_csv(
            path, dtype=dtype, keep_default_na=True, encoding="utf-8-sig", chunksize=chunk_rows
        ) as reader:
            yield from reader


def parquet_column_max(path: str | Path, column: str) -> float | None:
    """The largest value of a numeric column of a Parquet file, read one column at a time
    (None when the file has no such numeric column)."""
    path, kind = _checked(path)
    if kind != "parquet":
        return None
    with _readable(path, kind):
        schema = pq.read_schema(path)
        kind_of = schema.field(column).type if column in schema.names else None
        if kind_of is None or not (pa.types.is_integer(kind_of) or pa.types.is_floating(kind_of)):
            return None
        top = pc.max(pc.abs(pq.read_table(path, columns=[column]).column(column))).as_py()
        return None if top is None else float(top)
