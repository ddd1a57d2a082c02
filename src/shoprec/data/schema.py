"""The canonical ``events`` and ``items`` tables every source produces (DESIGN.md, data contracts).

Stages exchange these tables as Parquet. ``to_canonical_events`` / ``to_canonical_items`` coerce a
frame that already has the contract's columns into the contract's dtypes, and raise a
``DataError`` naming the column when that is impossible.
"""

from __future__ import annotations

import pandas as pd

from shoprec.errors import DataError

EVENT_TYPES: tuple[str, ...] = ("view", "addtocart", "purchase")

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "event_type", "timestamp")
EVENT_OPTIONAL_COLUMNS: tuple[str, ...] = ("session_id", "quantity", "price")

ITEM_COLUMNS: tuple[str, ...] = ("item_id", "title", "category", "brand", "price")
ITEM_OPTIONAL_COLUMNS: tuple[str, ...] = ("description", "available")


def _require(df: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{table}: missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, df.columns)) or 'no columns'}"
        )


def _as_string(series: pd.Series, table: str, column: str) -> pd.Series:
    if series.isna().any():
        n = int(series.isna().sum())
        raise DataError(f"{table}.{column}: {n} missing value(s); ids must be present")
    return series.astype(str)


def to_canonical_events(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the events contract's columns, in order, with canonical dtypes."""
    _require(df, EVENT_COLUMNS, "events")
    out = pd.DataFrame(
        {
            "user_id": _as_string(df["user_id"], "events", "user_id"),
            "item_id": _as_string(df["item_id"], "events", "item_id"),
            "event_type": df["event_type"].astype(str).str.strip().str.lower(),
        }
    )
    try:
        out["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"events.timestamp: not a timestamp column ({first})") from None
    out["timestamp"] = out["timestamp"].astype("datetime64[us, UTC]")
    if "session_id" in df.columns:
        out["session_id"] = df["session_id"].astype("string")
    for column in ("quantity", "price"):
        if column in df.columns:
            try:
                out[column] = pd.to_numeric(df[column]).astype("float64")
            except (ValueError, TypeError) as exc:
                raise DataError(f"events.{column}: not numeric ({exc})") from None
    return out.reset_index(drop=True)


def to_canonical_items(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the items contract's columns, in order, with canonical dtypes."""
    _require(df, ITEM_COLUMNS, "items")
    out = pd.DataFrame({"item_id": _as_string(df["item_id"], "items", "item_id")})
    for column in ("title", "category", "brand"):
        out[column] = df[column].astype("string").fillna("")
    try:
        out["price"] = pd.to_numeric(df["price"]).astype("float64")
    except (ValueError, TypeError) as exc:
        raise DataError(f"items.price: not numeric ({exc})") from None
    if "description" in df.columns:
        out["description"] = df["description"].astype("string")
    if "available" in df.columns:
        out["available"] = df["available"].astype("boolean")
    return out.reset_index(drop=True)
