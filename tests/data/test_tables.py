"""Reading tables (CSV, CSV.gz, Parquet) with one DataError for every way a file can be bad."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from shoprec.data.tables import read_table
from shoprec.errors import DataError

FRAME = pd.DataFrame({"item_id": ["a", "b", "c"], "price": [1.5, 2.0, 3.25], "n": [1, 2, 3]})
CSV_TEXT = "item_id,price,n\na,1.5,1\nb,2.0,2\nc,3.25,3\n"


def data_error(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert str(path) in message
    return message


# -- read_table ----------------------------------------------------------------------------------
def test_reads_csv(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text(CSV_TEXT)
    pd.testing.assert_frame_equal(read_table(path), FRAME)


def test_reads_gzipped_csv(tmp_path: Path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT.encode()))
    pd.testing.assert_frame_equal(read_table(path), FRAME)


@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".PARQUET"])
def test_reads_parquet(tmp_path: Path, suffix: str):
    path = tmp_path / f"t{suffix}"
    FRAME.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), FRAME)


def test_csv_dtype_is_applied(tmp_path: Path):
    path = tmp_path / "ids.csv"
    path.write_text("item_id,n\n007,1\n010,2\n")
    assert read_table(path, dtype={"item_id": str})["item_id"].tolist() == ["007", "010"]


def test_missing_path(tmp_path: Path):
    assert "no such file" in data_error(tmp_path / "absent.csv")


def test_directory(tmp_path: Path):
    (tmp_path / "folder.csv").mkdir()
    assert "directory" in data_error(tmp_path / "folder.csv")


@pytest.mark.parametrize("name", ["t.xlsx", "t.json", "t.csv.bz2", "noext"])
def test_unknown_extension(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text(CSV_TEXT)
    assert "unknown table format" in data_error(path)


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet"])
def test_empty_file(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"")
    data_error(path)


def test_empty_gzip(tmp_path: Path):
    path = tmp_path / "empty.csv.gz"
    path.write_bytes(gzip.compress(b""))
    assert "empty" in data_error(path)


def test_truncated_gzip(tmp_path: Path):
    body = "".join(f"item{i},{i}.5,{i}\n" for i in range(5000))
    blob = gzip.compress(("item_id,price,n\n" + body).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    assert "gzip" in data_error(path)


def test_gz_suffix_on_plain_text(tmp_path: Path):
    path = tmp_path / "plain.csv.gz"
    path.write_text(CSV_TEXT)
    data_error(path)


def test_not_utf8_csv(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("item_id,title\na,caf\xe9 cr\xe8me\n".encode("latin-1"))
    assert "UTF-8" in data_error(path)


def test_not_utf8_gzipped_csv(tmp_path: Path):
    path = tmp_path / "latin1.csv.gz"
    path.write_bytes(gzip.compress(b"item_id,title\na,\xff\xfe broken\n"))
    assert "UTF-8" in data_error(path)


def test_corrupt_parquet(tmp_path: Path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    data_error(path)
