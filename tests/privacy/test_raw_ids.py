"""The raw-id search finds ids inside compressed Parquet, .npz members and gzip files."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd

from tests.privacy.raw_ids import files_containing


def test_ids_are_found_where_a_plain_byte_search_would_miss_them(tmp_path):
    ids = [f"customer-{n:06d}" for n in range(200)]
    pd.DataFrame({"user_id": ids}).to_parquet(tmp_path / "t.parquet", compression="zstd")
    np.savez_compressed(tmp_path / "m.npz", user_ids=np.array(ids))
    (tmp_path / "log.gz").write_bytes(gzip.compress(b"served customer-000150\n"))
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/x").write_text("customer-000150")
    (tmp_path / "input").mkdir()
    (tmp_path / "input/events.csv").write_text("customer-000150")
    assert b"customer-000150" not in (tmp_path / "t.parquet").read_bytes()
    found = files_containing(tmp_path, ["customer-000150"], exclude=[tmp_path / "input"])
    assert found == {k: ["customer-000150"] for k in ("log.gz", "m.npz", "t.parquet")}
    assert files_containing(tmp_path, ["customer-999999"], exclude=[tmp_path / "input"]) == {}
