"""Inputs of the sequential model: each user's recent events as ordered (item, event type) rows.

A sequence is right-aligned: the most recent event is in the last column and ``-1`` pads on the
left, so position ``t`` only ever follows positions ``< t``. Event types are coded
``EVENT_CODES`` (0 is padding). Training windows cut a user's whole history into chunks of
``length + 1`` events from the most recent backwards: the model reads ``window[:-1]`` and
predicts ``window[1:]``. A user's state at a cut is the last ``length`` events before it; the
events handed in are already the ones before each user's cut (the split did that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shoprec.data.schema import EVENT_TYPES

EVENT_CODES: dict[str, int] = {t: i + 1 for i, t in enumerate(EVENT_TYPES)}
PAD = -1


@dataclass
class EventSequences:
    """One row per user (or per training window): items (catalogue indices) and event codes."""

    user_ids: np.ndarray  # str (n,)
    items: np.ndarray  # int32 (n, length), -1 pads on the left
    events: np.ndarray  # int8 (n, length), 0 pads

    def __len__(self) -> int:
        return len(self.user_ids)


def _ordered(events: pd.DataFrame, catalogue_ids: np.ndarray, event_types) -> pd.DataFrame:
    """Events of ``event_types`` on catalogue items, sorted by user then time (stable)."""
    events = events[events["event_type"].isin(list(event_types))]
    index = pd.Index(catalogue_ids).get_indexer(events["item_id"].astype(str))
    frame = pd.DataFrame(
        {
            "user_id": events["user_id"].to_numpy(dtype=str),
            "item": index.astype(np.int32),
            "event": events["event_type"].map(EVENT_CODES).to_numpy(dtype=np.int8),
            "timestamp": events["timestamp"].to_numpy(),
        }
    )
    frame = frame[frame["item"] >= 0]
    return frame.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)


def _right_aligned(
    frame: pd.DataFrame, row_of_event: np.ndarray, position: np.ndarray, n_rows: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    items = np.full((n_rows, length), PAD, dtype=np.int32)
    codes = np.zeros((n_rows, length), dtype=np.int8)
    keep = (position >= 0) & (position < length)
    items[row_of_event[keep], position[keep]] = frame["item"].to_numpy()[keep]
    codes[row_of_event[keep], position[keep]] = frame["event"].to_numpy()[keep]
    return items, codes


def user_sequences(
    events: pd.DataFrame,
    user_ids: np.ndarray,
    catalogue_ids: np.ndarray,
    length: int,
    event_types=EVENT_TYPES,
) -> EventSequences:
    """The last ``length`` events of each of ``user_ids`` in ``events`` (all zeros/pads for a
    user without any)."""
    user_ids = np.asarray(user_ids, dtype=str)
    frame = _ordered(events, catalogue_ids, event_types)
    rows = pd.Index(user_ids).get_indexer(frame["user_id"])
    frame, rows = frame[rows >= 0], rows[rows >= 0]
    from_end = frame.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    position = length - 1 - from_end
    items, codes = _right_aligned(frame, rows, position, len(user_ids), length)
    return EventSequences(user_ids=user_ids, items=items, events=codes)


def training_windows(
    events: pd.DataFrame,
    catalogue_ids: np.ndarray,
    length: int,
    event_types=EVENT_TYPES,
    max_windows_per_user: int = 8,
) -> EventSequences:
    """Every user's history in windows of ``length + 1`` events, newest window first, at most
    ``max_windows_per_user`` per user; windows of a single event (nothing to predict) are
    dropped."""
    frame = _ordered(events, catalogue_ids, event_types)
    from_end = frame.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    window = from_end // (length + 1)
    keep = window < max_windows_per_user
    frame, from_end, window = frame[keep].reset_index(drop=True), from_end[keep], window[keep]
    codes = frame.groupby([frame["user_id"], window], sort=False).ngroup().to_numpy()
    n_windows = int(codes.max()) + 1 if len(codes) else 0
    sizes = np.bincount(codes, minlength=n_windows)
    position = length - from_end % (length + 1)
    items, event_codes = _right_aligned(frame, codes, position, n_windows, length + 1)
    owners = np.empty(n_windows, dtype=object)
    owners[codes] = frame["user_id"].to_numpy()
    owners = owners.astype(str)
    useful = sizes >= 2
    return EventSequences(user_ids=owners[useful], items=items[useful], events=event_codes[useful])
