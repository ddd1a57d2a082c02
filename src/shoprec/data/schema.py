"""The canonical ``events`` and ``items`` tables every source produces (DESIGN.md, data contracts).

Stages exchange these tables as Parquet. ``coerce_events`` / ``coerce_items`` bring a frame that
has the contract's columns to the contract's dtypes without losing a row: a value that cannot be
converted (a timestamp that is not a date, a price that is not a number) becomes missing, and
the row's problem is returned beside it so that validation can quarantine it with its reason.
``to_canonical_events`` / ``to_canonical_items`` are the strict forms for sources that must
already be clean (they raise ``DataError`` on the first problem).
"""

from __future__ import annotations

import pandas as pd

from shoprec.errors import DataError

EVENT_TYPES: tuple[str, ...] = ("view", "addtocart", "purchase")

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "event_type", "timestamp")
EVENT_OPTIONAL_COLUMNS: tuple[str, ...] = ("session_id", "quantity", "price")

ITEM_COLUMNS: tuple[str, ...] = ("item_id", "title", "category", "brand", "price")
ITEM_OPTIONAL_COLUMNS: tuple[str, ...] = ("description", "available")


def require_columns(df: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if not missing:
        return
    found = [str(c) for c in df.columns]
    hint = ""
    if len(found) == 1 and any(sep in found[0] for sep in (";", "\t", "|")):
        hint = " (the header is a single column: is the file comma-separated?)"
    shown = ", ".join(found[:12]) or "no columns"
    raise DataError(
        f"{table}: missing required column(s) {', '.join(missing)}; found {shown}{hint}"
    )


def _text(series: pd.Series) -> pd.Series:
    """Strings with missing values kept missing (never the text 'nan')."""
    out = series.astype("string")
    return out.str.strip().replace("", pd.NA)


def numeric_time_unit(largest: float) -> str:
    """Unix seconds or milliseconds, told apart by the column's largest magnitude."""
    return "ms" if largest > 1e11 else "s"


def _timestamps(series: pd.Series, unit: str | None = None) -> pd.Series:
    """UTC timestamps; naive values are taken as UTC, numbers as Unix seconds (or ms: ``unit``,
    else told by this column's largest value)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = pd.to_datetime(series, utc=True)
    elif pd.api.types.is_numeric_dtype(series):
        values = pd.to_numeric(series, errors="coerce")
        unit = unit or numeric_time_unit(values.abs().max())
        parsed = pd.to_datetime(values, unit=unit, utc=True, errors="coerce")
    else:
        text = _text(series)
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        retry = parsed.isna() & text.notna()
        if retry.any():
            parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    return parsed.astype("datetime64[us, UTC]")


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _note(problems: pd.Series, mask: pd.Series, text: str) -> None:
    problems[mask & problems.isna()] = text


def coerce_events(df: pd.DataFrame, time_unit: str | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Canonical events plus, per row, the first conversion problem (or <NA>). ``time_unit``
    fixes the unit of numeric timestamps (a chunk of a table takes the whole table's)."""
    require_columns(df, EVENT_COLUMNS, "events")
    problems = pd.Series(pd.NA, index=df.index, dtype="string")
    out = pd.DataFrame(
        {
            "user_id": _text(df["user_id"]),
            "item_id": _text(df["item_id"]),
            "event_type": _text(df["event_type"]).str.lower(),
        }
    )
    out["timestamp"] = _timestamps(df["timestamp"], time_unit)
    _note(problems, out["timestamp"].isna() & df["timestamp"].notna(), "unparseable_timestamp")
    if "session_id" in df.columns:
        out["session_id"] = _text(df["session_id"])
    for column in ("quantity", "price"):
        if column in df.columns:
            out[column] = _numbers(df[column])
            bad = out[column].isna() & _text(df[column].astype("string")).notna()
            _note(problems, bad, f"non_numeric_{column}")
    return out.reset_index(drop=True), problems.reset_index(drop=True)


def coerce_items(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Canonical items plus, per row, the first conversion problem (or <NA>)."""
    require_columns(df, ITEM_COLUMNS, "items")
    problems = pd.Series(pd.NA, index=df.index, dtype="string")
    out = pd.DataFrame({"item_id": _text(df["item_id"])})
    for column in ("title", "category", "brand"):
        out[column] = df[column].astype("string").fillna("")
    out["price"] = _numbers(df["price"])
    _note(
        problems,
        out["price"].isna() & _text(df["price"].astype("string")).notna(),
        "non_numeric_price",
    )
    if "description" in df.columns:
        out["description"] = df["description"].astype("string")
    if "available" in df.columns:
        text = _text(df["available"].astype("string")).str.lower()
        mapped = text.map(
            {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        )
        out["available"] = mapped.astype("boolean")
        _note(problems, mapped.isna() & text.notna(), "non_boolean_available")
    return out.reset_index(drop=True), problems.reset_index(drop=True)


def _strict(table: str, df: pd.DataFrame, problems: pd.Series, ids: tuple[str, ...]):
    for column in ids:
        missing = int(df[column].isna().sum())
        if missing:
            raise DataError(f"{table}.{column}: {missing} missing value(s); ids must be present")
    bad = problems.dropna()
    if len(bad):
        raise DataError(f"{table}: {len(bad)} row(s) cannot be converted, e.g. {bad.iloc[0]}")
    return df


def to_canonical_events(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the events contract's columns and dtypes; raise on any bad value."""
    out, problems = coerce_events(df)
    return _strict("events", out, problems, ("user_id", "item_id"))


def to_canonical_items(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the items contract's columns and dtypes; raise on any bad value."""
    out, problems = coerce_items(df)
    return _strict("items", out, problems, ("item_id",))


__all__ = [
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "ITEM_COLUMNS",
    "coerce_events",
    "coerce_items",
    "to_canonical_events",
    "to_canonical_items",
]
