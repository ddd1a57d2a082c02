"""Turn a data source named in ``params.yaml`` into the canonical events and items tables.

Every source returns a ``SourceData``: the canonical tables plus the rows it could not use,
each with its reason, so that rows read = rows used + rows quarantined, always.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from shoprec.config import DataSource, FilesSource, OnlineRetailSource, SyntheticSource
from shoprec.data.schema import to_canonical_events, to_canonical_items
from shoprec.data.tables import read_table

QUARANTINE_COLUMNS = ("table", "source_row", "reason")

# CSV columns read as text, not inferred: an id "007" must not become the number 7 (and stop
# matching the other table), nor a brand "1000" in a column with gaps the text "1000.0".
EVENTS_CSV_DTYPES: dict[str, object] = {"user_id": str, "item_id": str, "session_id": str}
ITEMS_CSV_DTYPES: dict[str, object] = {
    "item_id": str,
    "title": str,
    "category": str,
    "brand": str,
    "description": str,
}


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


def load_source(spec: DataSource) -> SourceData:
    """Read the source described by ``spec`` (a member of ``params.data``)."""
    if isinstance(spec, SyntheticSource):
        from shoprec.data.synthetic import generate_shop

        events, items = generate_shop(
            users=spec.users, items=spec.items, days=spec.days, seed=spec.seed
        )
        return SourceData(events=events, items=items)
    if isinstance(spec, FilesSource):
        events = to_canonical_events(read_table(spec.events, dtype=EVENTS_CSV_DTYPES))
        items = to_canonical_items(read_table(spec.items, dtype=ITEMS_CSV_DTYPES))
        return SourceData(events=events, items=items)
    if isinstance(spec, OnlineRetailSource):
        from shoprec.data.online_retail import read_online_retail

        return read_online_retail(spec.path)
    raise TypeError(f"unknown data source {spec!r}")  # pragma: no cover - pydantic guards this
