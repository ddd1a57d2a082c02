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

from shoprec.errors import ConfigError, DataError
from shoprec.ids import positions_in

PARTS = ("train", "validation", "test")
CUTS_FILE = "cuts.parquet"  # beside the parts: Cuts.to_frame of every user


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _no_users() -> pd.DataFrame:
    empty = pd.Series([], dtype="datetime64[us, UTC]", index=pd.Index([], dtype=str))
    frame = pd.DataFrame({"validation_at": empty, "test_at": empty})
    frame.index.name = "user_id"
    return frame


@dataclass(frozen=True, eq=False)
class Cuts:
    """When each user's validation and test periods start: the cut-offs of the split.

    ``temporal``: one pair (T1, T2) for everybody, ``users`` is empty. ``leave_last_out``:
    each held-out user's own pair (the times of their validation and test targets) in
    ``users``; every other user (all of whose events are train) gets ``default_validation``
    and ``default_test``, a "now" one second after the end of the data. A user's train events
    are exactly those before ``validation_at``, their validation events those in
    [``validation_at``, ``test_at``).
    """

    default_validation: pd.Timestamp
    default_test: pd.Timestamp
    # index: user_id (str); columns validation_at, test_at (UTC); only users with own cuts
    users: pd.DataFrame = field(default_factory=_no_users)

    @classmethod
    def global_cuts(cls, validation_start, test_start) -> Cuts:
        """One validation start and one test start for every user (``temporal``)."""
        return cls(_utc(validation_start), _utc(test_start))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Cuts:
        """From a table of ``user_id, validation_at, test_at`` (``to_frame``'s): users absent
        from it get the latest cuts of the table, so users whose cuts equal those are not
        kept apart."""
        if frame.empty:
            raise DataError("split cuts: the table of cut times is empty")
        users = frame.set_index(frame["user_id"].astype(str))[["validation_at", "test_at"]]
        users = users.apply(lambda column: pd.to_datetime(column, utc=True))
        if users.index.has_duplicates:
            raise DataError("split cuts: a user has more than one row of cut times")
        latest_v, latest_t = users["validation_at"].max(), users["test_at"].max()
        own = (users["validation_at"] != latest_v) | (users["test_at"] != latest_t)
        users = users[own.to_numpy()]
        users.index.name = "user_id"
        return cls(_utc(latest_v), _utc(latest_t), users)

    @property
    def is_global(self) -> bool:
        """True when every user has the same cuts (``temporal``)."""
        return self.users.empty

    def _global(self, which: str) -> pd.Timestamp:
        if not self.is_global:
            raise ValueError(
                f"the split has a {which} cut per user (leave_last_out): use "
                f"Cuts.{which}_at(user_ids)"
            )
        return self.default_validation if which == "validation" else self.default_test

    @property
    def validation_start(self) -> pd.Timestamp:
        """The one validation start of a global split (``ValueError`` for per-user cuts)."""
        return self._global("validation")

    @property
    def test_start(self) -> pd.Timestamp:
        """The one test start of a global split (``ValueError`` for per-user cuts)."""
        return self._global("test")

    @property
    def latest_validation(self) -> pd.Timestamp:
        if self.is_global:
            return self.default_validation
        return max(self.default_validation, self.users["validation_at"].max())

    @property
    def latest_test(self) -> pd.Timestamp:
        if self.is_global:
            return self.default_test
        return max(self.default_test, self.users["test_at"].max())

    def _at(self, column: str, default: pd.Timestamp, user_ids) -> pd.DatetimeIndex:
        if self.is_global:
            return pd.DatetimeIndex(np.full(len(user_ids), default.asm8)).tz_localize("UTC")
        rows = positions_in(self.users.index, user_ids)  # -1: a user with the latest cuts
        own = pd.DatetimeIndex(self.users[column])
        return own[np.where(rows >= 0, rows, 0)].where(rows >= 0, default).fillna(default)

    def validation_at(self, user_ids) -> pd.DatetimeIndex:
        """Each user's validation start (aligned with ``user_ids``)."""
        return self._at("validation_at", self.default_validation, user_ids)

    def test_at(self, user_ids) -> pd.DatetimeIndex:
        """Each user's test start (aligned with ``user_ids``)."""
        return self._at("test_at", self.default_test, user_ids)

    def _validation_of(self, events: pd.DataFrame) -> pd.Timestamp | pd.DatetimeIndex:
        if self.is_global:  # one moment: no per-row copy of it
            return self.default_validation
        return self.validation_at(events["user_id"])

    def _test_of(self, events: pd.DataFrame) -> pd.Timestamp | pd.DatetimeIndex:
        return self.default_test if self.is_global else self.test_at(events["user_id"])

    def before_validation(self, events: pd.DataFrame) -> np.ndarray:
        """Which rows of ``events`` are earlier than their user's validation start."""
        return (events["timestamp"] < self._validation_of(events)).to_numpy(bool)

    def before_test(self, events: pd.DataFrame) -> np.ndarray:
        """Which rows of ``events`` are earlier than their user's test start."""
        return (events["timestamp"] < self._test_of(events)).to_numpy(bool)

    def in_validation(self, events: pd.DataFrame) -> np.ndarray:
        """Which rows of ``events`` fall in their user's [validation start, test start)."""
        at = events["timestamp"]
        return ((at >= self._validation_of(events)) & (at < self._test_of(events))).to_numpy(bool)

    def to_frame(self, user_ids) -> pd.DataFrame:
        """``user_id, validation_at, test_at`` of ``user_ids`` (the split writes every user)."""
        ids = np.sort(np.unique(np.asarray(user_ids, dtype=str)))
        return pd.DataFrame(
            {
                "user_id": pd.Series(ids, dtype="string"),
                "validation_at": self.validation_at(ids),
                "test_at": self.test_at(ids),
            }
        )


@dataclass
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    info: dict[str, object] = field(default_factory=dict)
    cuts: Cuts | None = None

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def _finish(events: pd.DataFrame, part: np.ndarray, info: dict[str, object], cuts: Cuts) -> Split:
    frames = {name: events[part == i].reset_index(drop=True) for i, name in enumerate(PARTS)}
    info["events"] = {name: len(frame) for name, frame in frames.items()}
    info["users"] = {name: int(frame["user_id"].nunique()) for name, frame in frames.items()}
    return Split(**frames, info=info, cuts=cuts)


def data_end(events: pd.DataFrame) -> pd.Timestamp:
    """The first day start (UTC) after the last event: where today's test window ends."""
    return _day_after(events["timestamp"].max())


def _day_after(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.floor("D") + pd.Timedelta(days=1)


def temporal_split(
    events: pd.DataFrame, test_days: int, validation_days: int, until: pd.Timestamp | None = None
) -> Split:
    """Global time split; boundaries fall on day starts (UTC). ``until`` (a day start, the
    default ``data_end(events)``) ends the test window; events at or after it are dropped."""
    if events.empty:
        raise ConfigError("split: there are no events to split")
    if until is not None:
        events = events[events["timestamp"] < until].reset_index(drop=True)
        if events.empty:
            raise ConfigError(f"split: there are no events before {until:%Y-%m-%d}")
    start, end = events["timestamp"].min(), events["timestamp"].max()
    info = temporal_bounds(start, end, test_days, validation_days, until)
    t1, t2 = pd.Timestamp(info["validation_start"]), pd.Timestamp(info["test_start"])
    return _finish(
        events, temporal_parts(events["timestamp"], t1, t2), info, Cuts.global_cuts(t1, t2)
    )


def temporal_bounds(
    start: pd.Timestamp,
    end: pd.Timestamp,
    test_days: int,
    validation_days: int,
    until: pd.Timestamp | None = None,
) -> dict[str, object]:
    """The temporal split's cuts (and its report's ``info``) for events from ``start`` to
    ``end``; an error when they leave no training period."""
    until = _day_after(end) if until is None else until
    t2 = until - pd.Timedelta(days=test_days)
    t1 = t2 - pd.Timedelta(days=validation_days)
    if t1 <= start:
        span = (end - start).days + 1
        raise ConfigError(
            f"split: the data spans {span} day(s) ({start:%Y-%m-%d} to {end:%Y-%m-%d}); "
            f"split.test_days + split.validation_days = {test_days + validation_days} "
            "leaves no training period"
        )
    return {
        "strategy": "temporal",
        "validation_start": t1.isoformat(),
        "test_start": t2.isoformat(),
        "test_end": until.isoformat(),
        "data_start": start.isoformat(),
        "data_end": end.isoformat(),
    }


def temporal_parts(timestamps: pd.Series, t1: pd.Timestamp, t2: pd.Timestamp) -> np.ndarray:
    """Each event's part: 0 train (before ``t1``), 1 validation, 2 test (from ``t2``)."""
    return np.where(timestamps >= t2, 2, np.where(timestamps >= t1, 1, 0))


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
    # users not held out: all their events are train, their "now" is just after the data;
    # a user with a test target but no validation one (min_holdout_events 1) has no validation
    start, end = ts.min(), ts.max()
    now = end + pd.Timedelta(seconds=1)
    users = pd.Index(events["user_id"].astype(str).unique()).sort_values()
    test_at = test_cut.reindex(users)
    table = pd.DataFrame(
        {
            "user_id": pd.Series(users, dtype="string"),
            "validation_at": pd.DatetimeIndex(val_cut.reindex(users).fillna(test_at).fillna(now)),
            "test_at": pd.DatetimeIndex(test_at.fillna(now)),
        }
    )
    info = {
        "strategy": "leave_last_out",
        "target_event_types": list(target_event_types),
        "held_out_users": len(test_cut),
        "min_holdout_events": min_holdout_events,
        "cuts": f"per user, data/split/{CUTS_FILE}",
        "cut_of_users_not_held_out": now.isoformat(),
        "data_start": start.isoformat(),
        "data_end": end.isoformat(),
    }
    return _finish(events, part, info, Cuts.from_frame(table))


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


def fold_events(
    events: pd.DataFrame,
    strategy: str,
    fold: int,
    step_days: int,
    target_event_types: list[str],
) -> tuple[pd.DataFrame, dict[str, object]]:
    """What cross-validation fold ``fold`` may see: the events before its test window ends.

    ``temporal``: fold k's test window ends ``k * step_days`` days before today's (the day
    start after the last event), so its validation and test windows slide back by as much.
    ``leave_last_out``: each user's events from their (k-1)-th-from-last target event on are
    dropped, so the k-th-from-last target becomes the user's last one (the test target) and
    the one before it the validation target; users with fewer than k target events keep all
    their events (and, having fewer than the split needs, stay in train). Fold 0 is today's
    split unchanged. Returns the events and how the fold was cut.
    """
    if fold < 0:
        raise ConfigError(f"evaluation.cv: a fold number is 0 or more, not {fold}")
    if events.empty:
        raise ConfigError("split: there are no events to split")
    if strategy == "temporal":
        until = data_end(events) - pd.Timedelta(days=fold * step_days)
        kept = events[events["timestamp"] < until].reset_index(drop=True)
        return kept, {"fold": fold, "until": until.isoformat(), "dropped": len(events) - len(kept)}
    if strategy != "leave_last_out":
        raise ConfigError(f"split.strategy: unknown strategy {strategy!r}")
    if fold == 0:
        return events, {"fold": 0, "dropped": 0}
    ordered = events.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    targets = ordered[ordered["event_type"].isin(target_event_types)]
    rank_from_end = targets.groupby("user_id").cumcount(ascending=False)
    # each user's first dropped moment: the time of their (fold-1)-th-from-last target
    first_dropped = targets.loc[rank_from_end == fold - 1].set_index("user_id")["timestamp"]
    cut = pd.Series(first_dropped.reindex(ordered["user_id"].to_numpy()).array)
    keep = ~(ordered["timestamp"] >= cut).to_numpy(bool)
    kept = ordered[keep].reset_index(drop=True)
    return kept, {"fold": fold, "users_cut": len(first_dropped), "dropped": int((~keep).sum())}


def split_fold(
    events: pd.DataFrame,
    strategy: str,
    test_days: int,
    validation_days: int,
    target_event_types: list[str],
    min_holdout_events: int,
    fold: int,
    step_days: int,
) -> Split:
    """The split of cross-validation fold ``fold`` (``fold_events``, then ``split_events``)."""
    kept, how = fold_events(events, strategy, fold, step_days, target_event_types)
    try:
        if strategy == "temporal":
            until = pd.Timestamp(how["until"])
            split = temporal_split(kept, test_days, validation_days, until=until)
        else:
            split = leave_last_out_split(kept, target_event_types, min_holdout_events)
    except ConfigError as error:
        raise ConfigError(
            f"evaluation.cv fold {fold}: {error}; use fewer folds or a smaller "
            "evaluation.cv.step_days"
        ) from error
    split.info["fold"] = how
    return split
