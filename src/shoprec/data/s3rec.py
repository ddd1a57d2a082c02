"""Adapter for the S3-Rec sequence files (``user item item …`` per line, plus item attributes).

The published sequential-recommendation tables (SASRec, S3-Rec, ICSRec …) use these files; the
lines keep each user's chronological order but no timestamps. The canonical export gives user
u's j-th item the time ``BASE + j minutes`` (one ``purchase`` event each), so a leave-last-out
split follows the line's order exactly. Items get their integer attribute codes (brand and
categories, the names were never released) as the title words ``attr_<code>`` and as the
category path, so every content feature of the models can use them; every item has the same
placeholder price (the files have none).

A line that is not integers is quarantined with its reason:
rows read = rows used + rows quarantined.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from shoprec.data.raw_table import SourceData, empty_quarantine
from shoprec.data.schema import to_canonical_events, to_canonical_items
from shoprec.errors import DataError

BASE = pd.Timestamp("2014-01-01T00:00:00Z")
# The files carry no prices and the data contract needs one: every item gets the same price,
# so price features are constant (they carry no information) rather than invented.
PLACEHOLDER_PRICE = 1.0


def attributes_path(sequences: Path) -> Path:
    """``Toys_and_Games.txt`` → ``Toys_and_Games_item2attributes.json``."""
    return sequences.with_name(f"{sequences.stem}_item2attributes.json")


def read_s3rec(path: str | Path, attributes: str | Path | None = None) -> SourceData:
    """Canonical events and items from an S3-Rec sequence file (and its attribute file)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"s3rec: {path} does not exist")
    users, items, positions, bad = [], [], [], []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or not all(f.isdigit() for f in fields):
            # the first field is the user (pseudonymised or erased at ingest like any user id)
            bad.append({"line": line_no, "user": fields[0], "text": " ".join(fields[1:])[:200]})
            continue
        user, seq = fields[0], fields[1:]
        users.extend([user] * len(seq))
        items.extend(seq)
        positions.extend(range(len(seq)))
    if not users:
        raise DataError(f"s3rec: {path} holds no sequences")
    events = pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "event_type": "purchase",
            "timestamp": BASE + pd.to_timedelta(np.asarray(positions), unit="min"),
        }
    )
    attributes = Path(attributes) if attributes else attributes_path(path)
    codes: dict[str, list[int]] = {}
    if attributes.is_file():
        codes = {str(k): list(v) for k, v in json.loads(attributes.read_text("utf-8")).items()}
    catalogue = sorted(set(items), key=lambda s: (len(s), s))
    words = [" ".join(f"attr_{c}" for c in codes.get(i, [])) for i in catalogue]
    item_table = pd.DataFrame(
        {
            "item_id": catalogue,
            "title": words,
            "category": [w.replace(" ", "/") if w else "" for w in words],
            "brand": "",
            "price": PLACEHOLDER_PRICE,
        }
    )
    quarantine = empty_quarantine()
    if bad:
        quarantine = pd.DataFrame(
            {
                "table": pd.Series(["events"] * len(bad), dtype="string"),
                "source_row": pd.Series([b["line"] - 1 for b in bad], dtype="int64"),
                "reason": pd.Series(["s3rec_line_not_integers"] * len(bad), dtype="string"),
                "record": pd.Series([json.dumps(b) for b in bad], dtype="string"),
            }
        )
    return SourceData(
        events=to_canonical_events(events),
        items=to_canonical_items(item_table),
        quarantine=quarantine,
        # a bad line is one quarantined row; a good line's items are its rows
        rows_read={"events": len(events) + len(bad), "items": len(item_table)},
        notes={"sequences": path.name, "attributes": attributes.name if codes else None},
        raw_user_column="user",
    )
