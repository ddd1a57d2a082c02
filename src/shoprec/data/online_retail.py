"""Adapter for the UCI Online Retail transaction log (UCI id 352), read as published.

One row per invoice line becomes one ``purchase`` event, or one quarantine row with the reason
it was set aside. The rules are applied in the order of ``QUARANTINE_RULES``; the first rule a
row matches is its reason, so every row read is counted exactly once (read = used + quarantined).
The mapping, every rule and its count on the full file are documented in ``docs/data-sources.md``.

Items are derived from the kept rows: the dataset has no catalogue, category or brand.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shoprec.data.raw_table import SourceData, empty_quarantine
from shoprec.data.schema import to_canonical_events, to_canonical_items
from shoprec.data.tables import read_table
from shoprec.errors import DataError

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
READ_DTYPES: dict[str, object] = {
    "InvoiceNo": str,
    "StockCode": str,
    "CustomerID": str,
    "Description": str,
}

#: Timezone of ``InvoiceDate``. The data does not say; the shop is UK-based, so the timestamps are
#: read as UK wall-clock time (GMT in winter, BST = UTC+1 in summer) and converted to UTC.
SOURCE_TIMEZONE = "Europe/London"

#: A product code is 5 digits optionally followed by letters (after upper-casing): ``85123A``,
#: ``15056BL``. Everything else is postage, fees, manual entries, samples or vouchers: ``POST``,
#: ``DOT``, ``M``, ``C2``, ``D``, ``S``, ``B``, ``BANK CHARGES``, ``AMAZONFEE``, ``CRUK``,
#: ``PADS``, ``DCGS…``, ``GIFT_0001_…``.
PRODUCT_CODE_PATTERN = r"^[0-9]{5}[A-Z]*$"

#: Codes that look like products but are charges (checked against every description they carry).
NON_PRODUCT_PRODUCT_SHAPED_CODES: frozenset[str] = frozenset(
    {
        "23444",  # "Next Day Carriage" (delivery charge, 15.00 or 30.00)
        "23702",  # "High Resolution Image" (image licence fee)
    }
)

#: Quarantine reasons in the order they are applied (first match wins): first what the line *is*
#: (unreadable, a cancellation, an adjustment, not a product, not a sale), then *who* bought it.
QUARANTINE_RULES: tuple[tuple[str, str], ...] = (
    ("unparseable_timestamp", "InvoiceDate missing or not a date"),
    ("cancellation_invoice", "InvoiceNo starts with 'C' (cancellation line)"),
    ("adjustment_invoice", "InvoiceNo starts with 'A' (bad-debt adjustment)"),
    (
        "non_product_stock_code",
        "StockCode missing, not 5 digits + optional letters, or a known charge code",
    ),
    ("non_positive_quantity", "Quantity missing, not a number, or <= 0"),
    ("non_positive_price", "UnitPrice missing, not a number, or <= 0"),
    ("missing_customer_id", "CustomerID empty (guest or unattributed line)"),
)


USER_ID_SUFFIX = r"\.0+$"  # CustomerID 17850.0 (a spreadsheet's float) is user 17850


def customer_id(value: object) -> str | None:
    """A raw ``CustomerID`` as the canonical ``user_id`` (the rule of ``read_online_retail``)."""
    text = re.sub(USER_ID_SUFFIX, "", str(value).strip()) if value is not None else ""
    return text or None


def read_online_retail(path: str | Path) -> SourceData:
    """Read the Online Retail CSV (``.csv`` or ``.csv.gz``) into canonical events and items."""
    started = time.perf_counter()
    path = Path(path)
    raw = read_table(path, dtype=READ_DTYPES)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns)) or "no columns"
        raise DataError(
            f"{path}: not the UCI Online Retail layout; missing column(s) "
            f"{', '.join(missing)} (expected {', '.join(COLUMNS)}; found {found})"
        )
    raw = raw.reset_index(drop=True)
    n_rows = len(raw)

    invoice = _text(raw["InvoiceNo"]).str.upper()
    item_id = _text(raw["StockCode"]).str.upper()
    user_id = _text(raw["CustomerID"]).str.replace(USER_ID_SUFFIX, "", regex=True)
    quantity = pd.to_numeric(raw["Quantity"], errors="coerce")
    price = pd.to_numeric(raw["UnitPrice"], errors="coerce")
    timestamp = _to_utc(raw["InvoiceDate"])

    is_product = item_id.str.match(PRODUCT_CODE_PATTERN).fillna(False).astype(bool) & ~item_id.isin(
        NON_PRODUCT_PRODUCT_SHAPED_CODES
    )
    conditions = {
        "unparseable_timestamp": timestamp.isna(),
        "cancellation_invoice": invoice.str.startswith("C").fillna(False).astype(bool),
        "adjustment_invoice": invoice.str.startswith("A").fillna(False).astype(bool),
        "non_product_stock_code": ~is_product,
        "non_positive_quantity": ~(quantity > 0),
        "non_positive_price": ~(price > 0),
        "missing_customer_id": user_id.isna(),
    }
    reasons = [name for name, _ in QUARANTINE_RULES]
    reason = pd.Series(
        np.select([conditions[r].to_numpy(dtype=bool) for r in reasons], reasons, default=""),
        index=raw.index,
    )
    kept = (reason == "").to_numpy()

    events = pd.DataFrame(
        {
            "user_id": user_id[kept],
            "item_id": item_id[kept],
            "event_type": "purchase",
            "timestamp": timestamp[kept],
            "session_id": invoice[kept],
            "quantity": quantity[kept],
            "price": price[kept],
        }
    )
    items, several_titles = _items(events, raw["Description"][kept])
    quarantine = _quarantine(raw, reason, kept)

    reason_counts = {r: int(c) for r, c in reason[~kept].value_counts().items()}
    non_product = item_id[(reason == "non_product_stock_code").to_numpy()]
    lowercase = raw["StockCode"].notna() & (raw["StockCode"] != raw["StockCode"].str.upper())
    notes: dict[str, object] = {
        "source": "UCI Online Retail (id 352), CC BY 4.0",
        "timezone": (
            f"InvoiceDate read as {SOURCE_TIMEZONE} wall-clock time (GMT in winter, BST = UTC+1 "
            "from the last Sunday of March to the last Sunday of October), converted to UTC; "
            "ambiguous autumn hour taken as BST, non-existent spring hour shifted forward"
        ),
        "rule_order": reasons,
        "quarantine_reasons": {r: reason_counts.get(r, 0) for r in reasons},
        "rows_matching_each_rule": {r: int(conditions[r].sum()) for r in reasons},
        "non_product_codes": {str(k): int(v) for k, v in non_product.value_counts().items()},
        "lowercase_stock_code_rows": int(lowercase.sum()),
        "users": int(events["user_id"].nunique()),
        "items": len(items),
        "codes_with_several_titles": several_titles,
        "duplicate_event_rows": int(raw[kept].duplicated().sum()),
        "title_rule": (
            "most frequent non-empty Description (whitespace trimmed and collapsed) on kept "
            "rows; ties: the one seen most recently"
        ),
        "price_rule": "median UnitPrice over kept rows",
    }
    data = SourceData(
        events=to_canonical_events(events),
        items=to_canonical_items(items),
        quarantine=quarantine,
        rows_read={"events": n_rows, "items": len(items)},
        notes=notes,
        source_rows={"events": np.flatnonzero(kept)},  # each event's row in the file
        raw_user_column="CustomerID",
        raw_user_id=customer_id,
    )
    logger.info(
        "online retail: %d rows read, %d events, %d quarantined, %d users, %d items in %.1fs",
        n_rows,
        len(data.events),
        len(quarantine),
        notes["users"],
        len(items),
        time.perf_counter() - started,
    )
    return data


def _text(series: pd.Series) -> pd.Series:
    """Strip a text column; empty strings become missing."""
    out = series.astype("string").str.strip()
    return out.mask(out == "")


def _to_utc(series: pd.Series) -> pd.Series:
    """Parse ``InvoiceDate`` (ISO, or the ``M/D/YYYY H:MM`` of other CSV copies) to UTC."""
    text = _text(series)
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if parsed.dt.tz is not None:  # explicit offsets in the file: trust them
        return parsed.dt.tz_convert("UTC")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="%m/%d/%Y %H:%M", errors="coerce")
    local = parsed.dt.tz_localize(
        SOURCE_TIMEZONE,
        ambiguous=np.ones(len(parsed), dtype=bool),
        nonexistent="shift_forward",
    )
    return local.dt.tz_convert("UTC")


def _items(events: pd.DataFrame, description: pd.Series) -> tuple[pd.DataFrame, int]:
    """One row per kept item: most frequent title (ties: most recent), median price.

    Descriptions are compared with surrounding whitespace removed and inner runs of whitespace
    collapsed to one space (``PINK  POLKADOT PLATE`` and ``PINK POLKADOT PLATE`` are one title).
    """
    codes = events["item_id"]
    prices = events.groupby("item_id", sort=True)["price"].median()

    title = _text(description).str.replace(r"\s+", " ", regex=True)
    frame = pd.DataFrame(
        {"item_id": codes, "title": title, "timestamp": events["timestamp"], "row": codes.index}
    ).dropna(subset=["title"])
    variants = frame.groupby(["item_id", "title"], sort=False).agg(
        n=("row", "size"), last=("timestamp", "max"), last_row=("row", "max")
    )
    several_titles = int((variants.groupby(level="item_id").size() > 1).sum())
    best = (
        variants.reset_index()
        .sort_values(["item_id", "n", "last", "last_row"], ascending=[True, False, False, False])
        .drop_duplicates("item_id")
        .set_index("item_id")["title"]
    )
    titles = best.reindex(prices.index)
    items = pd.DataFrame(
        {
            "item_id": prices.index,
            "title": titles.to_numpy(),
            "category": "unknown",
            "brand": "unknown",
            "price": prices.to_numpy(),
            "description": titles.to_numpy(),
            "available": True,
        }
    )
    return items, several_titles


def _quarantine(raw: pd.DataFrame, reason: pd.Series, kept: np.ndarray) -> pd.DataFrame:
    """The set-aside rows in the ``raw_table.empty_quarantine()`` format, in file order."""
    if kept.all():
        return empty_quarantine()
    rows = raw[~kept]
    text = rows.to_json(orient="records", lines=True, force_ascii=False)
    # to_json escapes every "/" as "\/" (valid JSON, but noisy); a "/" is never preceded by an
    # unescaped backslash, so undoing that escape cannot change any other character.
    records = text.replace("\\/", "/").split("\n")
    if records and records[-1] == "":
        records.pop()
    if len(records) != len(rows):  # pragma: no cover - a to_json format change would land here
        raise RuntimeError("online retail: could not split quarantine records one per row")
    out = pd.DataFrame(
        {
            "table": pd.Series("events", index=rows.index, dtype="string"),
            "source_row": pd.Series(rows.index.to_numpy(dtype="int64"), index=rows.index),
            "reason": reason[~kept].astype("string"),
            "record": pd.Series(records, index=rows.index, dtype="string"),
        }
    )
    return out.reset_index(drop=True)
