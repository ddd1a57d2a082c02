"""A batch-scoring run: the artifact's table and the CLI's line, from the same dict."""

from __future__ import annotations

from shoprec.render.batch import batch_line, batch_table
from shoprec.render.table import to_markdown

RESULT = {
    "output": "s3://bucket/recs/2026-03-01_itemknn-v2",
    "model": "itemknn",
    "version": 2,
    "k": 7,
    "chunk_size": 128,
    "users": 12345,
    "rows": 86415,
    "chunks": 1200,
    "chunks_written": 1150,
    "chunks_skipped": 50,
    "seconds": 12.345,
}


def test_the_table_has_one_row_per_count():
    table = batch_table(RESULT)
    assert dict(table.texts()) == {
        "model": "itemknn v2",
        "output": "s3://bucket/recs/2026-03-01_itemknn-v2",
        "users": "12,345",
        "rows": "86,415",
        "k": "7",
        "parts written now": "1,150",
        "parts already there (resumed)": "50",
        "seconds": "12.3",
    }
    markdown = to_markdown(table).splitlines()
    assert markdown[:4] == ["# Batch scoring", "", "| | |", "|---|---|"]
    assert "| output | `s3://bucket/recs/2026-03-01_itemknn-v2` |" in markdown


def test_a_local_folder_has_no_version():
    local = {**RESULT, "version": None}
    assert batch_table(local).texts()[0] == ["model", "itemknn (local folder)"]
    assert batch_line(local) == (
        "itemknn (local folder): 12,345 users, 86,415 rows; parts: 1,150 written, 50 already "
        "there; 12.3 s → s3://bucket/recs/2026-03-01_itemknn-v2"
    )
