"""The profile of the last accepted batch: the next batch's volume and mix are checked on it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from shoprec.errors import DataError
from shoprec.io import write_json


@dataclass
class BatchProfile:
    source_key: str
    events_rows: int
    items_rows: int
    event_mix: dict[str, float]
    median_items_per_user: float

    @classmethod
    def of(cls, events: pd.DataFrame, items: pd.DataFrame, source_key: str) -> BatchProfile:
        shares = events["event_type"].value_counts(normalize=True).sort_index()
        # the same statistic the suite's median expectation computes: over event rows, the
        # number of distinct items of the row's user
        per_user = events.groupby("user_id")["item_id"].transform("nunique")
        return cls(
            source_key=source_key,
            events_rows=len(events),
            items_rows=len(items),
            event_mix={str(k): round(float(v), 6) for k, v in shares.items()},
            median_items_per_user=float(per_user.median()) if len(per_user) else 0.0,
        )

    def describe(self) -> str:
        return f"{self.events_rows:,} events, {self.items_rows:,} items"

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))


def load_profile(path: str | Path | None) -> BatchProfile | None:
    """The saved profile, or None when there is none yet."""
    if path is None or not Path(path).is_file():
        return None
    try:
        return BatchProfile(**json.loads(Path(path).read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(f"{path}: not a batch profile ({exc}); delete it to start afresh") from None
