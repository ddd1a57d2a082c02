"""The validation summary: per table, rows in, accepted and quarantined, and why.

Built from the validation summary (``ValidationOutcome.summary()``, written as
``reports/validation/summary.json``): ``{"accepted", "message", "counts": {table: {"in",
"accepted", "quarantined"}}, "quarantine_reasons": {table: {reason: rows}}, "compared_with",
"suites": [...], "notes": [...]}``. Counts have thousands separators; the reasons of a table
read ``reason 1,234, other 5``, most frequent first (as the summary orders them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoprec.render.table import Column, Table, cell

MISSING = "—"


def count_text(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def reasons_text(reasons: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in reasons.items()) or MISSING


def validation_table(summary: Mapping[str, Any]) -> Table:
    """Titled with the verdict (``Data validation: accepted`` or ``…: rejected: <why>``); the
    summary's notes (e.g. "no previous accepted batch") are the table's notes."""
    if summary["accepted"]:
        title = cell("Data validation: ", ("accepted", "good"))
    else:
        message = summary.get("message")
        title = cell("Data validation: ", ("rejected", "bad"), f": {message}" if message else "")
    reasons = summary.get("quarantine_reasons", {})
    rows = [
        [
            cell(table),
            *(cell(count_text(counts.get(k))) for k in ("in", "accepted", "quarantined")),
            cell(reasons_text(reasons.get(table, {}))),
        ]
        for table, counts in summary["counts"].items()
    ]
    return Table(
        title=title,
        columns=[
            Column("table", key=True),
            Column("in", numeric=True),
            Column("accepted", numeric=True),
            Column("quarantined", numeric=True),
            Column("reasons"),
        ],
        rows=rows,
        notes=[str(n) for n in summary.get("notes", [])],
    )


def expectations_table(summary: Mapping[str, Any]) -> Table:
    """Each suite level run (row rules, batch rules) with its verdict, then its failed
    expectations (column, unexpected count, examples) and its skipped ones."""
    rows = []
    for suite in summary.get("suites", []):
        level = "row rules" if suite.get("level") == "row" else "batch rules"
        status = ("passed", "good") if suite["success"] else ("failed", "bad")
        rows.append(
            [
                cell(suite["table"]),
                cell(level),
                cell(count_text(suite.get("rows"))),
                cell(str(suite.get("expectations", ""))),
                cell(status),
            ]
        )
        for failed in suite.get("failed", []):
            examples = ", ".join(repr(v) for v in failed.get("examples") or [])
            if not examples and failed.get("observed_value") is not None:
                examples = str(failed["observed_value"])
            unexpected = failed.get("unexpected_count")
            rows.append(
                [
                    cell(""),
                    cell((failed["expectation"], "bad")),
                    cell(failed.get("column") or ""),
                    cell("" if unexpected is None else str(unexpected)),
                    cell(examples),
                ]
            )
        for skipped in suite.get("skipped", []):
            rows.append([cell(""), cell((f"skipped: {skipped}", "muted")), *[cell("")] * 3])
    return Table(
        title=cell("Expectations"),
        columns=[
            Column("table"),
            Column("suite / failed expectation"),
            Column("rows / column"),
            Column("expectations / unexpected"),
            Column("status / examples"),
        ],
        rows=rows,
    )
