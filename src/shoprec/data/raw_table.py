"""The raw-table format between ingest and validate, in one place.

A source gives a ``SourceData``: the canonical tables, the rows it could not use (the
quarantine) and, per row, why a value did not convert and the row as it was read. Ingest
writes each table with three bookkeeping columns beside the canonical ones (``pack``);
validate reads them back (``unpack``) and quarantines those rows with their original values
(``restore_records``). So rows read = rows used + rows quarantined, across both stages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# why a row could not be converted (<NA> when it could)
PROBLEM_COLUMN = "ingest_problem"
# 0-based data row in the file as read
SOURCE_ROW_COLUMN = "source_row"
# for rows with a problem only: the row as it was read (JSON), so quarantine keeps the bad value
RAW_RECORD_COLUMN = "ingest_raw"
BOOKKEEPING = (PROBLEM_COLUMN, SOURCE_ROW_COLUMN, RAW_RECORD_COLUMN)

QUARANTINE_COLUMNS = ("table", "source_row", "reason")


def plain_user_id(value: object) -> str | None:
    """A raw user value as the canonical ``user_id`` (surrounding whitespace stripped; empty
    is missing), the rule of ``schema.coerce_events``."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass
class SourceData:
    """Canonical tables from one source, plus what was set aside and why.

    ``quarantine`` has the columns ``table`` (events|items), ``source_row`` (0-based data row
    in the file as read), ``reason`` and ``record`` (the original row as JSON text).
    ``rows_read`` counts data rows read per table (``{"events": n, "items": m}``).
    """

    events: pd.DataFrame
    items: pd.DataFrame
    quarantine: pd.DataFrame = field(default_factory=lambda: empty_quarantine())
    rows_read: dict[str, int] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)
    problems: dict[str, pd.Series] = field(default_factory=dict)
    """Per table, per row: why a value could not be converted (<NA> when it could).
    Such rows are still in ``events``/``items``; validation quarantines them."""
    raw: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per table, the rows as read before conversion (same rows, same order as the tables),
    so that a quarantined row keeps its original values."""
    source_rows: dict[str, np.ndarray] = field(default_factory=dict)
    """Per table, the 0-based data row in the file of each table row, where it is not simply
    the row's position (e.g. after ingest set an erased user's rows aside)."""
    raw_user_column: str | None = "user_id"
    """The events' column of the rows as read (``raw`` and each quarantine ``record``) that
    holds the user id, e.g. Online Retail's ``CustomerID``: pseudonymised and erased there too."""
    raw_user_id: Callable[[object], str | None] = plain_user_id
    """How the source turns that raw value into the canonical ``user_id``."""

    def counts(self) -> dict[str, dict[str, int]]:
        """Per table: rows read, rows used, rows quarantined (read == used + quarantined)."""
        quarantined = self.quarantine.groupby("table").size().to_dict()
        used = {"events": len(self.events), "items": len(self.items)}
        out = {}
        for table in ("events", "items"):
            out[table] = {
                "read": int(self.rows_read.get(table, used[table])),
                "used": int(used[table]),
                "quarantined": int(quarantined.get(table, 0)),
            }
        return out


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": pd.Series(dtype="string"),
            "source_row": pd.Series(dtype="int64"),
            "reason": pd.Series(dtype="string"),
            "record": pd.Series(dtype="string"),
        }
    )


def pack(
    frame: pd.DataFrame,
    problems: pd.Series | None,
    raw: pd.DataFrame | None,
    source_rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """``frame`` with the bookkeeping columns: source row (its position unless
    ``source_rows`` says otherwise), problem, and the raw record of every row with a problem."""
    out = frame.copy()
    rows = np.arange(len(frame)) if source_rows is None else np.asarray(source_rows)
    out[SOURCE_ROW_COLUMN] = rows.astype(np.int64)
    if problems is None:
        problems = pd.Series(pd.NA, index=frame.index, dtype="string")
    problems = problems.astype("string").reset_index(drop=True)
    # typed text columns (not objects), so the file's schema does not depend on the values
    out[PROBLEM_COLUMN] = problems.to_numpy()
    records = pd.Series(pd.NA, index=out.index, dtype="string")
    bad = problems.notna().to_numpy()
    if raw is not None and bad.any():
        rows = raw.reset_index(drop=True).loc[bad].astype(object)
        rows = rows.where(rows.notna(), None)
        records[bad] = [json.dumps(r, default=str) for r in rows.to_dict(orient="records")]
    out[RAW_RECORD_COLUMN] = records.to_numpy()
    for column in (PROBLEM_COLUMN, RAW_RECORD_COLUMN):
        out[column] = out[column].astype("string")
    return out


@dataclass
class Unpacked:
    """A packed table taken apart: the canonical columns and the bookkeeping beside them."""

    table: pd.DataFrame
    problems: pd.Series | None
    source_rows: np.ndarray | None
    records: pd.Series | None
    """raw records (JSON text) by source row, for the rows that had one"""


def unpack(frame: pd.DataFrame) -> Unpacked:
    """Separate ``pack``'s bookkeeping columns from the table (a table without them, e.g.
    canonical files validated directly, comes back as it is)."""
    problems = frame[PROBLEM_COLUMN] if PROBLEM_COLUMN in frame.columns else None
    has_rows = SOURCE_ROW_COLUMN in frame.columns
    rows = frame[SOURCE_ROW_COLUMN].to_numpy() if has_rows else None
    records = None
    if has_rows and RAW_RECORD_COLUMN in frame.columns:
        records = frame.set_index(SOURCE_ROW_COLUMN)[RAW_RECORD_COLUMN].dropna()
    table = frame.drop(columns=[c for c in BOOKKEEPING if c in frame])
    return Unpacked(table, problems, rows, records)


def restore_records(quarantine: pd.DataFrame, table: str, unpacked: Unpacked) -> None:
    """Quarantine records of rows that did not convert show the values as read, not as NaN."""
    if unpacked.records is None or quarantine.empty:
        return
    mine = (quarantine["table"] == table).to_numpy()
    originals = quarantine.loc[mine, "source_row"].map(unpacked.records)
    known = originals.notna()
    quarantine.loc[originals.index[known], "record"] = originals[known]
