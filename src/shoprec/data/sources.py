"""Turn a data source named in ``params.yaml`` into the canonical events and items tables.

Every source returns a ``SourceData``: the canonical tables plus the rows it could not use,
each with its reason, so that rows read = rows used + rows quarantined, always.
"""

from __future__ import annotations

import pandas as pd

from shoprec.config import (
    DataSource,
    FilesSource,
    OnlineRetailSource,
    S3RecSource,
    SyntheticSource,
)
from shoprec.data.raw_table import SourceData
from shoprec.data.schema import coerce_events, coerce_items
from shoprec.data.tables import read_table


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


def read_canonical_items(items_path) -> SourceData:
    """Only the items of canonical files (the events are then read in chunks, elsewhere)."""
    raw_items = read_table(items_path, dtype=str)
    items, item_problems = coerce_items(raw_items)
    return SourceData(
        events=pd.DataFrame(),
        items=items,
        problems={"items": item_problems},
        raw={"items": raw_items},
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
    if isinstance(spec, S3RecSource):
        from shoprec.data.s3rec import read_s3rec

        return read_s3rec(spec.path, spec.attributes)
    raise TypeError(f"unknown data source {spec!r}")  # pragma: no cover - pydantic guards this
