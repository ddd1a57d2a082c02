"""Turn a data source named in ``params.yaml`` into the canonical events and items tables.

Every source returns a ``SourceData``: the canonical tables plus the rows it could not use,
each with its reason, so that rows read = rows used + rows quarantined, always.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from shoprec.config import DataSource, FilesSource, OnlineRetailSource, SyntheticSource
from shoprec.data.schema import coerce_events, coerce_items
from shoprec.data.tables import read_table

QUARANTINE_COLUMNS = ("table", "source_row", "reason")


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


def read_canonical_files(events_path, items_path) -> SourceData:
    """Canonical tables from CSV(.gz)/Parquet files, every CSV column read as text first.

    Nothing is inferred (an id "007" stays "007"); values that do not convert are kept as
    missing, with the row's problem in ``problems`` for validation to quarantine.
    """
    raw_events = read_table(events_path, dtype=str)
    raw_items = read_table(items_path, dtype=str)
    events, event_problems = coerce_events(raw_events)
    items, item_problems = coerce_items(raw_items)
    return SourceData(
        events=events,
        items=items,
        problems={"events": event_problems, "items": item_problems},
        raw={"events": raw_events, "items": raw_items},
    )


def load_source(spec: DataSource) -> SourceData:
    """Read the source described by ``spec`` (a member of ``params.data``)."""
    if isinstance(spec, SyntheticSource):
        from shoprec.data.synthetic import generate_shop

        events, items = generate_shop(
            users=spec.users, items=spec.items, days=spec.days, seed=spec.seed
        )
        return SourceData(events=events, items=items)
    if isinstance(spec, FilesSource):
        return read_canonical_files(spec.events, spec.items)
    if isinstance(spec, OnlineRetailSource):
        from shoprec.data.online_retail import read_online_retail

        return read_online_retail(spec.path)
    raise TypeError(f"unknown data source {spec!r}")  # pragma: no cover - pydantic guards this
