"""What one task does on one run of day partitions (``shoprec.validation.partitioned``).

Two kinds of task, both plain functions of a run's files so that a Dask worker can run them:
``count_users`` (the per-user partial aggregates the derived columns need) and ``check_run``
(the row rules, with the derived columns taken from the whole table's aggregates). A run's
rows arrive in source order and carry ``row_position``, so everything a task returns is
keyed by position and can be combined in source order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shoprec.data import raw_table
from shoprec.data.partitions import POSITION, read_run, write_run
from shoprec.data.schema import EVENT_COLUMNS, EVENT_OPTIONAL_COLUMNS
from shoprec.validation.batch import _first_reasons
from shoprec.validation.suites import SuiteResult, run_expectations

DERIVED = ("user_event_count", "user_distinct_items", "is_repeat_row")


@dataclass
class UserPartials:
    """Per-user aggregates of some rows: rows per user, their distinct (user, item) pairs,
    whether a row has no user, and (for accepted rows) rows per event type. The pairs are
    integer codes into the run's own distinct user and item ids (8 bytes a pair, not two
    strings), which ``combine_users`` maps onto the whole table's."""

    events: pd.Series  # user_id -> rows (rows without a user are not counted)
    pair_users: pd.Index  # distinct user ids of the pairs
    pair_items: pd.Index  # distinct item ids of the pairs
    pairs: np.ndarray  # (n, 2) int32 codes into pair_users, pair_items; distinct, both present
    null_users: bool
    event_types: pd.Series | None = None


def user_partials(frame: pd.DataFrame, event_types: bool = False) -> UserPartials:
    users = frame["user_id"]
    both = (users.notna() & frame["item_id"].notna()).to_numpy()
    user_codes, user_ids = pd.factorize(users[both])
    item_codes, item_ids = pd.factorize(frame["item_id"][both])
    keys = np.unique(user_codes.astype(np.int64) * max(1, len(item_ids)) + item_codes)
    pairs = np.stack(divmod(keys, max(1, len(item_ids))), axis=1).astype(np.int32)
    return UserPartials(
        events=frame.groupby("user_id", dropna=True, sort=False).size(),
        pair_users=pd.Index(user_ids),
        pair_items=pd.Index(item_ids),
        pairs=pairs,
        null_users=bool(users.isna().any()),
        event_types=frame["event_type"].value_counts(sort=False) if event_types else None,
    )


def count_users(paths: list[str]) -> UserPartials:
    """Task of the first pass: the per-user aggregates of a run."""
    return user_partials(read_run(paths, columns=["user_id", "item_id"]))


def combine_users(partials: list[UserPartials]) -> pd.DataFrame:
    """The whole table's ``events`` and ``items`` (distinct items) per user: counts are
    summed, pairs seen in several runs counted once."""
    events = pd.concat([p.events for p in partials]).groupby(level=0, sort=False).sum()
    users = pd.Index(pd.unique(pd.Index([]).append([p.pair_users for p in partials])))
    items = pd.Index(pd.unique(pd.Index([]).append([p.pair_items for p in partials])))
    width = max(1, len(items))
    keys = np.unique(
        np.concatenate(
            [np.zeros(0, dtype=np.int64)]
            + [
                users.get_indexer(p.pair_users)[p.pairs[:, 0]].astype(np.int64) * width
                + items.get_indexer(p.pair_items)[p.pairs[:, 1]]
                for p in partials
            ]
        )
    )
    per_user = np.bincount(keys // width, minlength=len(users))
    distinct = pd.Series(per_user.astype(np.int64), index=users)
    return pd.DataFrame({"events": events, "items": distinct.reindex(events.index, fill_value=0)})


def _per_row(users: pd.Series, totals: pd.Series, dtype) -> pd.Series:
    where = totals.index.get_indexer(users)
    known = where >= 0
    values = np.full(len(users), np.nan)
    values[known] = totals.to_numpy(dtype=np.float64)[where[known]]
    return pd.Series(values, index=users.index).astype(dtype)


def derive_events(
    frame: pd.DataFrame,
    totals: pd.DataFrame,
    null_users: bool,
    columns: tuple[str, ...] = DERIVED,
) -> pd.DataFrame:
    """``validation.batch._derive_events`` for a run: the per-user columns hold the whole
    table's values (``totals``), in the dtypes the whole table would give (they depend on
    whether any row of the table has no user, ``null_users``); copies are found within the
    run, which holds every copy of a row (same timestamp, same day)."""
    out = frame.copy()
    probe = frame.iloc[:1]
    if null_users:  # a row without a user makes pandas widen the dtypes: give it one
        nobody = probe.copy()
        nobody["user_id"] = pd.Series([pd.NA], index=nobody.index, dtype=frame["user_id"].dtype)
        probe = pd.concat([probe, nobody], ignore_index=True)
    by_user = probe.groupby("user_id", dropna=True)
    if "user_event_count" in columns:
        dtype = by_user["user_id"].transform("size").dtype
        out["user_event_count"] = _per_row(frame["user_id"], totals["events"], dtype)
    if "user_distinct_items" in columns:
        dtype = by_user["item_id"].transform("nunique").dtype
        out["user_distinct_items"] = _per_row(frame["user_id"], totals["items"], dtype)
    if "is_repeat_row" in columns:
        canonical = [c for c in (*EVENT_COLUMNS, *EVENT_OPTIONAL_COLUMNS) if c in frame.columns]
        out["is_repeat_row"] = frame.duplicated(subset=canonical, keep="first")
    return out


@dataclass
class RunResult:
    """One run checked: its row rules' outcomes (flagged rows and examples by position), its
    quarantined rows, and where its accepted rows went."""

    rows: int
    row_result: SuiteResult  # each outcome's ``rows``: positions of the rows it flags
    examples: list[list[tuple[int, Any]]]  # per outcome: (position, value) of its examples
    bad: pd.DataFrame  # the quarantined rows (canonical columns), in source order
    bad_reasons: np.ndarray
    bad_source_rows: np.ndarray
    bad_positions: np.ndarray
    bad_records: pd.Series | None  # raw records of rows that did not convert, by source row
    accepted_path: str
    accepted_rows: int
    accepted: UserPartials


def check_run(
    task: tuple[int, list[str], pd.DataFrame],
    *,
    suite: dict[str, Any],
    parameters: dict[str, Any],
    null_users: bool,
    out_dir: str,
) -> RunResult:
    """Task of the second pass: run ``(number, files, totals of the run's users)`` through
    the row rules; accepted rows are written to ``out_dir/run-<number>.parquet``."""
    number, paths, totals = task
    frame = read_run(paths)
    positions = frame.pop(POSITION).to_numpy(dtype=np.int64)
    unpacked = raw_table.unpack(frame)
    table = unpacked.table
    problems = unpacked.problems
    if problems is None:
        problems = pd.Series(pd.NA, index=table.index, dtype="string")
    derived = derive_events(table, totals, null_users)
    result = run_expectations(derived, suite, "events", levels=("row",), parameters=parameters)
    reasons = _first_reasons(problems, result)
    examples, outcomes = [], []
    for outcome in result.outcomes:
        flagged = None if outcome.rows is None else positions[outcome.rows]
        shown = [] if flagged is None else flagged[: len(outcome.examples)].tolist()
        examples.append(list(zip(shown, outcome.examples, strict=False)))
        outcomes.append(dataclasses.replace(outcome, rows=flagged))
    result = dataclasses.replace(result, outcomes=outcomes)

    bad = reasons.notna().to_numpy()
    source_rows = positions if unpacked.source_rows is None else unpacked.source_rows
    bad_source_rows = np.asarray(source_rows)[bad].astype(np.int64)
    records = unpacked.records
    if records is not None:
        records = records[records.index.isin(bad_source_rows)]
    accepted = table.loc[~bad].reset_index(drop=True)
    path = Path(out_dir) / f"run-{number:05d}.parquet"
    write_run(accepted.assign(**{POSITION: positions[~bad]}), path)
    return RunResult(
        rows=len(table),
        row_result=result,
        examples=examples,
        bad=table.loc[bad].reset_index(drop=True),
        bad_reasons=reasons[bad].to_numpy(),
        bad_source_rows=bad_source_rows,
        bad_positions=positions[bad],
        bad_records=records,
        accepted_path=str(path),
        accepted_rows=len(accepted),
        accepted=user_partials(accepted, event_types=True),
    )


__all__ = [
    "DERIVED",
    "RunResult",
    "UserPartials",
    "check_run",
    "combine_users",
    "count_users",
    "derive_events",
    "user_partials",
]
