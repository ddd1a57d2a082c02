"""Forgotten users taken out of batch outputs already written, in a folder and on S3 (moto)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from shoprec.batch_scoring.erase import erase_users
from shoprec.batch_scoring.parts import open_output
from shoprec.batch_scoring.score import SUCCESS_FILE, score_to_parquet
from tests.conftest import new_bucket
from tests.privacy.raw_ids import files_containing

K, CHUNK = 5, 100


def _score(batch_shop, location, exclude=frozenset()):
    users = np.unique(np.asarray(batch_shop["model"].history.user_ids, dtype=str))[:250]
    result = score_to_parquet(
        batch_shop["model"], users, location, K, CHUNK, "itemknn", 1, exclude=exclude
    )
    return users, result


def _rows(location) -> pd.DataFrame:
    out = open_output(location)
    parts = [k for k in out.list("") if k.endswith(".parquet")]
    return pd.concat([pd.read_parquet(io.BytesIO(out.get(k).data)) for k in parts])


def _erase_and_check(batch_shop, base: str, run: str):
    users, first = _score(batch_shop, run)
    forgotten = {users[3], users[120]}  # in parts 0 and 1 of 3
    result = erase_users(base, forgotten)
    assert (result.parts_read, result.parts_rewritten) == (3, 2)
    assert result.rows_removed == 2 * K
    rows = _rows(run)
    assert not set(rows["user_id"]) & forgotten
    assert len(rows) == first.rows - 2 * K
    assert rows["user_id"].nunique() == len(users) - 2
    success = json.loads(open_output(run).get(SUCCESS_FILE).data)
    assert (success["rows"], success["users"]) == (first.rows - 2 * K, len(users) - 2)
    assert success["erasures"][0]["rows"] == 2 * K
    assert not any(u in json.dumps(success) for u in forgotten)
    # the same batch again resumes (the plan is unchanged), and brings no forgotten user back
    _, again = _score(batch_shop, run, exclude=frozenset(forgotten))
    assert (again.chunks_written, again.chunks_skipped, again.rows) == (0, 3, len(rows))
    assert erase_users(base, forgotten).parts_rewritten == 0
    return forgotten


def test_forget_rewrites_the_parts_of_a_folder_output(batch_shop, tmp_path):
    base = tmp_path / "batch"
    forgotten = _erase_and_check(batch_shop, str(base), str(base / "2024-01-01_itemknn-v1"))
    assert files_containing(base, forgotten) == {}


def test_forget_rewrites_the_parts_of_an_s3_output(batch_shop, s3_env):
    base = f"s3://{new_bucket(s3_env)}/recs"
    _erase_and_check(batch_shop, base, f"{base}/2024-01-01_itemknn-v1")


def test_a_new_batch_leaves_out_the_deletion_list(batch_shop, tmp_path):
    users = np.unique(np.asarray(batch_shop["model"].history.user_ids, dtype=str))
    forgotten = frozenset(users[:CHUNK])  # a whole chunk: its part is written, empty
    _, result = _score(batch_shop, str(tmp_path / "run"), exclude=forgotten)
    rows = _rows(tmp_path / "run")
    assert result.chunks_written == 3
    assert not set(rows["user_id"]) & forgotten
    assert rows["user_id"].nunique() == 250 - CHUNK


def test_erase_refuses_a_part_that_is_not_parquet(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run/part-00000.parquet").write_text("not parquet")
    with pytest.raises(Exception, match="not a readable Parquet part"):
        erase_users(str(tmp_path), {"u1"})
