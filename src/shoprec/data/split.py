"""Split events into train / validation / test by time (DESIGN.md, evaluation protocol).

``temporal``: one global clock. test = [T2, end], validation = [T1, T2), train = before T1,
with T2 the start of the day ``test_days`` before the end of the data.

``leave_last_out``: each user's last target event (and everything at or after it) is test,
the second-to-last starts validation; the protocol of most published sequential
recommendation tables. Users with fewer than ``min_holdout_events`` target events stay
wholly in train. In both, every train event is strictly earlier than every validation and
test event of the same user, so nothing from the future reaches training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shoprec.errors import ConfigError

PARTS = ("train", "validation", "test")


@dataclass
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    info: dict[str, object] = field(default_factory=dict)

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def _finish(events: pd.DataFrame, part: np.ndarray, info: dict[str, object]) -> Split:
    frames = {name: events[part == i].reset_index(drop=True) for i, name in enumerate(PARTS)}
    info["events"] = {name: len(frame) for name, frame in frames.items()}
    info["users"] = {name: int(frame["user_id"].nunique()) for name, frame in frames.items()}
    return Split(**frames, info=info)


def temporal_split(events: pd.DataFrame, test_days: int, validation_days: int) -> Split:
    """Global time split; boundaries fall on day starts (UTC)."""
    if events.empty:
        raise ConfigError("split: there are no events to split")
    start, end = events["timestamp"].min(), events["timestamp"].max()
    t2 = end.floor("D") + pd.Timedelta(days=1) - pd.Timedelta(days=test_days)
    t1 = t2 - pd.Timedelta(days=validation_days)
    if t1 <= start:
        span = (end - start).days + 1
        raise ConfigError(
            f"split: the data spans {span} day(s) ({start:%Y-%m-%d} to {end:%Y-%m-%d}); "
            f"split.test_days + split.validation_days = {test_days + validation_days} "
            "leaves no training period"
        )
    ts = events["timestamp"]
    part = np.where(ts >= t2, 2, np.where(ts >= t1, 1, 0))
    info = {
        "strategy": "temporal",
        "validation_start": t1.isoformat(),
        "test_start": t2.isoformat(),
        "data_start": start.isoformat(),
        "data_end": end.isoformat(),
    }
    return _finish(events, part, info)


def leave_last_out_split(
    events: pd.DataFrame, target_event_types: list[str], min_holdout_events: int = 3
) -> Split:
    """Per-user holdout of the last (test) and second-to-last (validation) target event."""
    if events.empty:
        raise ConfigError("split: there are no events to split")
    events = events.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    targets = events[events["event_type"].isin(target_event_types)]
    rank_from_end = targets.groupby("user_id").cumcount(ascending=False)
    n_targets = targets.groupby("user_id")["user_id"].transform("size")
    eligible = n_targets >= min_holdout_events
    test_cut = targets.loc[eligible & (rank_from_end == 0)].set_index("user_id")["timestamp"]
    val_cut = targets.loc[eligible & (rank_from_end == 1)].set_index("user_id")["timestamp"]
    # each event's cut times (its user's); NaT, which compares False, for users not held out
    t2 = pd.Series(test_cut.reindex(events["user_id"].to_numpy()).array, index=events.index)
    t1 = pd.Series(val_cut.reindex(events["user_id"].to_numpy()).array, index=events.index)
    ts = events["timestamp"]
    part = np.where((ts >= t2).to_numpy(), 2, np.where((ts >= t1).to_numpy(), 1, 0))
    info = {
        "strategy": "leave_last_out",
        "target_event_types": list(target_event_types),
        "held_out_users": len(test_cut),
        "min_holdout_events": min_holdout_events,
    }
    return _finish(events, part, info)


def split_events(
    events: pd.DataFrame,
    strategy: str,
    test_days: int,
    validation_days: int,
    target_event_types: list[str],
    min_holdout_events: int = 3,
) -> Split:
    """Dispatch on ``split.strategy`` (``temporal`` or ``leave_last_out``)."""
    if strategy == "temporal":
        return temporal_split(events, test_days, validation_days)
    if strategy == "leave_last_out":
        return leave_last_out_split(events, target_event_types, min_holdout_events)
    raise ConfigError(f"split.strategy: unknown strategy {strategy!r}")
