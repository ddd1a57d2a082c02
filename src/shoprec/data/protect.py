"""User ids made safe before ingest writes anything: pseudonymised, and erased users set aside.

Ingest calls ``protect_users`` on the source's ``SourceData``, so neither the canonical tables
nor the rows kept as read (``raw`` and each quarantine ``record``) hold a raw id when
pseudonymisation is on: every user id there becomes its pseudonym. Then every event of a user
on the deletion list is quarantined with reason ``erased`` (rows already quarantined for
another reason are relabelled), its record keeping no user id at all, so rows read = rows
used + rows quarantined still holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from shoprec.data.raw_table import SourceData

ERASED = "erased"

Pseudonym = Callable[[str], str]


def protect_users(
    data: SourceData, pseudonym: Pseudonym | None, erased: frozenset[str] | set[str]
) -> int:
    """Pseudonymise (when ``pseudonym`` is given) and erase in place; returns how many events
    were set aside as erased. ``erased`` holds ids as stored (pseudonyms when on)."""
    data.rows_read = {t: c["read"] for t, c in data.counts().items()}  # fixed before rows move
    if pseudonym is not None:
        _pseudonymise(data, pseudonym)
    return _erase(data, frozenset(erased)) if erased else 0


def _stored(value: object, data: SourceData, pseudonym: Pseudonym | None) -> str | None:
    """A raw user value as shoprec stores it (canonical, then pseudonymised)."""
    user = data.raw_user_id(value)
    return None if user is None or pseudonym is None else pseudonym(user)


def _pseudonymise(data: SourceData, pseudonym: Pseudonym) -> None:
    events = data.events
    cache: dict[str, str] = {}

    def once(user: str) -> str:
        if user not in cache:
            cache[user] = pseudonym(user)
        return cache[user]

    out = [None if _missing(v) else once(str(v)) for v in events["user_id"].to_numpy(object)]
    data.events = events.assign(user_id=pd.array(out, dtype=events["user_id"].dtype))
    pseudonym = once
    column = data.raw_user_column
    raw = data.raw.get("events")
    if column is not None and raw is not None and column in raw.columns:
        values = [_stored(v, data, pseudonym) if not _missing(v) else v for v in raw[column]]
        data.raw["events"] = raw.assign(**{column: pd.Series(values, index=raw.index)})
    if column is not None and not data.quarantine.empty:
        data.quarantine["record"] = [
            _rewrite(record, column, lambda v: _stored(v, data, pseudonym))
            if table == "events"
            else record
            for table, record in zip(
                data.quarantine["table"], data.quarantine["record"], strict=True
            )
        ]
        data.quarantine["record"] = data.quarantine["record"].astype("string")


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _rewrite(record: object, column: str, change: Callable[[object], object]) -> object:
    """A quarantine record (JSON text) with its user value changed."""
    if _missing(record):
        return record
    try:
        row = json.loads(str(record))
    except json.JSONDecodeError:
        return record
    if not isinstance(row, dict) or column not in row or row[column] is None:
        return record
    row[column] = change(row[column])
    return json.dumps(row, ensure_ascii=False, default=str)


def _record_user(record: object, column: str) -> object:
    if _missing(record):
        return None
    try:
        row = json.loads(str(record))
    except json.JSONDecodeError:
        return None
    return row.get(column) if isinstance(row, dict) else None


def _erase(data: SourceData, erased: frozenset[str]) -> int:
    events = data.events
    hit = events["user_id"].isin(erased).fillna(False).to_numpy(dtype=bool)
    column = data.raw_user_column or "user_id"
    relabel = _relabel_quarantined(data, erased, column)
    if not hit.any():
        return relabel
    rows = data.source_rows.get("events", np.arange(len(events)))
    raw = data.raw.get("events")
    if raw is not None:
        shown, user_column = raw.reset_index(drop=True).loc[hit], column
    else:
        shown, user_column = events.reset_index(drop=True).loc[hit], "user_id"
    shown = shown.astype(object).assign(**{user_column: None})
    shown = shown.where(shown.notna(), None)
    set_aside = pd.DataFrame(
        {
            "table": pd.Series("events", index=range(int(hit.sum())), dtype="string"),
            "source_row": np.asarray(rows)[hit].astype("int64"),
            "reason": pd.Series(ERASED, index=range(int(hit.sum())), dtype="string"),
            "record": pd.Series(
                [
                    json.dumps(r, ensure_ascii=False, default=str)
                    for r in shown.to_dict(orient="records")
                ],
                dtype="string",
            ),
        }
    )
    data.quarantine = pd.concat([data.quarantine, set_aside], ignore_index=True)
    kept = ~hit
    data.events = events.loc[kept].reset_index(drop=True)
    data.source_rows["events"] = np.asarray(rows)[kept]
    if "events" in data.problems:
        data.problems["events"] = data.problems["events"].reset_index(drop=True).loc[kept]
    if raw is not None:
        data.raw["events"] = raw.reset_index(drop=True).loc[kept]
    return int(hit.sum()) + relabel


def _relabel_quarantined(data: SourceData, erased: frozenset[str], column: str) -> int:
    """Rows the source already set aside that belong to an erased user: reason ``erased``,
    the user taken out of the record."""
    q = data.quarantine
    if q.empty:
        return 0

    def listed(record: object) -> bool:
        user = _record_user(record, column)
        return user is not None and data.raw_user_id(user) in erased

    mine = [
        table == "events" and listed(record)
        for table, record in zip(q["table"], q["record"], strict=True)
    ]
    mask = np.asarray(mine, dtype=bool)
    if not mask.any():
        return 0
    q.loc[mask, "reason"] = ERASED
    q.loc[mask, "record"] = [_rewrite(r, column, lambda _v: None) for r in q.loc[mask, "record"]]
    return int(mask.sum())
