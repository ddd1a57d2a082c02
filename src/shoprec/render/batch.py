"""A batch-scoring run: model, output, users, rows, parts written and resumed, seconds.

Built from ``BatchResult.to_dict()`` (also what ``_SUCCESS.json`` holds). ``batch_table`` is
the Prefect artifact's table; ``batch_line`` the one line ``shoprec batch score`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoprec.render.table import Column, Table, cell


def model_label(result: Mapping[str, Any]) -> str:
    version = result.get("version")
    return f"{result['model']} " + (f"v{version}" if version is not None else "(local folder)")


def batch_table(result: Mapping[str, Any]) -> Table:
    rows = [
        ("model", cell(model_label(result))),
        ("output", cell((str(result["output"]), "code"))),
        ("users", cell(f"{result['users']:,}")),
        ("rows", cell(f"{result['rows']:,}")),
        ("k", cell(str(result["k"]))),
        ("parts written now", cell(f"{result['chunks_written']:,}")),
        ("parts already there (resumed)", cell(f"{result['chunks_skipped']:,}")),
        ("seconds", cell(f"{result['seconds']:.1f}")),
    ]
    return Table(
        title=cell("Batch scoring"),
        columns=[Column(""), Column("")],
        rows=[[cell(name), value] for name, value in rows],
    )


def batch_line(result: Mapping[str, Any]) -> str:
    return (
        f"{model_label(result)}: {result['users']:,} users, {result['rows']:,} rows; parts: "
        f"{result['chunks_written']:,} written, {result['chunks_skipped']:,} already there; "
        f"{result['seconds']:.1f} s → {result['output']}"
    )
