"""``validate_batch`` for events held as day partitions (``compute.engine: dask``).

The answer is the local engine's, exactly: same counts, quarantine reasons and rows, messages,
accepted rows (in source order) and profile. How:

- items are validated whole, as ``validate_batch`` does (a catalogue fits in memory);
- events go through in runs of days (``DayPartitions.runs``), one task each, as Dask tasks when
  there is a client: a first pass counts each user's rows and distinct (user, item) pairs per
  run, combined into the whole table's ``user_event_count`` / ``user_distinct_items``; a second
  pass runs the row rules on each run with those columns (copies of a row share its timestamp,
  so ``is_repeat_row`` is found within a run) and writes the run's accepted rows;
- counts, reasons (with their first row, for messages), outcomes and examples are combined by
  source position, so they read as if the table had been checked whole;
- the batch-level rules run on ``batch_view`` (all accepted rows, only the columns those rules
  read), the profile comes from combined counts (``batch_view.profile_of``).

Row rules that compare a row with the others (``expect_column_values_to_be_unique`` and the
like) cannot be checked run by run and are refused. The accepted events stay in run files
until ``PartitionedValidation.write_events`` merges them into one Parquet file in source
order. Task files are read by the workers: with a remote scheduler the work folder must be on
storage the workers share.

What the caller holds: the items, the per-user totals, the quarantined rows and the batch
view; the combined (user, item) pairs are about the size of the interaction matrix.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shoprec.compute import fan_out
from shoprec.config import ValidationParams
from shoprec.data import raw_table
from shoprec.data.partitions import DayPartitions, merge_in_order
from shoprec.errors import DataError
from shoprec.validation.baseline import BatchProfile
from shoprec.validation.batch import (
    TableCheck,
    ValidationOutcome,
    _derive_items,
    _first_reasons,
    _parameters,
    _quarantine_frame,
    _share_message,
)
from shoprec.validation.batch_view import batch_view, profile_of
from shoprec.validation.run_checks import (
    RunResult,
    check_run,
    combine_users,
    count_users,
)
from shoprec.validation.suites import (
    SuiteResult,
    level_of,
    load_suite_json,
    run_expectations,
)

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


@dataclass
class PartitionedCheck(TableCheck):
    """A ``TableCheck`` combined from runs. ``counts`` are the whole table's quarantine
    reasons (most frequent first, ties in order of first appearance, as ``value_counts``);
    ``reasons`` holds only the reasons of ``examples``, the first row of each reason in
    source order, which is all the messages show."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: pd.DataFrame | None = None

    @property
    def quarantined(self) -> int:
        return sum(self.counts.values())

    def reason_counts(self) -> dict[str, int]:
        return dict(self.counts)


@dataclass
class PartitionedValidation:
    """The outcome (its ``events`` has no rows: the accepted events are in ``accepted_runs``,
    one file per run, until ``write_events``) and the run files."""

    outcome: ValidationOutcome
    accepted_runs: list[str]

    def write_events(self, target: str | Path) -> int:
        """The accepted events as one Parquet file, in source order (atomic replace)."""
        return merge_in_order(self.accepted_runs, target)


# Row rules whose verdict on a row depends on other rows: run by run they would miss rows in
# other runs (copies are found with the derived ``is_repeat_row`` instead).
WHOLE_COLUMN_ROW_RULES = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_values_to_be_unique",
    }
)


def _refuse_whole_column_rules(suite: dict[str, Any], table: str) -> None:
    rules = sorted(
        {e["type"] for e in suite["expectations"] if level_of(e) == "row"} & WHOLE_COLUMN_ROW_RULES
    )
    if rules:
        raise DataError(
            f"suite '{suite.get('name') or table}': row rule(s) {', '.join(rules)} compare a "
            "row with every other row, which runs of days cannot do; use compute.engine: local"
        )


def _combine_results(results: list[RunResult], rows: int) -> SuiteResult:
    """The runs' row-rule results as one result over the whole table."""
    first = results[0].row_result
    outcomes = []
    for i, outcome in enumerate(first.outcomes):
        parts = [r.row_result.outcomes[i] for r in results]
        counts = [p.unexpected_count for p in parts if p.unexpected_count is not None]
        flagged = [p.rows for p in parts if p.rows is not None]
        shown = sorted((pair for r in results for pair in r.examples[i]), key=lambda p: p[0])
        observed = next((p.observed_value for p in parts if p.observed_value is not None), None)
        outcomes.append(
            dataclasses.replace(
                outcome,
                success=all(p.success for p in parts),
                unexpected_count=sum(counts) if counts else None,
                examples=[value for _, value in shown][:5],
                observed_value=observed,
                rows=np.sort(np.concatenate(flagged)) if flagged else None,
            )
        )
    return dataclasses.replace(first, rows=rows, outcomes=outcomes)


def ordered_reason_counts(reasons: pd.Series) -> dict[str, int]:
    """Rows per reason, given the reasons of the quarantined rows in source order, in
    ``TableCheck.reason_counts``' order: most rows first, ties by first appearance."""
    reasons = reasons.reset_index(drop=True)
    sizes = reasons.value_counts(sort=False)
    firsts = reasons.drop_duplicates().index
    order = sorted(firsts, key=lambda i: (-int(sizes[reasons[i]]), i))
    return {str(reasons[i]): int(sizes[reasons[i]]) for i in order}


def _events_check(results: list[RunResult], rows: int) -> tuple[PartitionedCheck, pd.DataFrame]:
    """The events' check, and their quarantined rows in source order (with ``reason``,
    ``source_row`` and ``position`` beside the canonical columns)."""
    bad = pd.concat(
        [
            r.bad.assign(
                __reason=pd.Series(r.bad_reasons, dtype="string"),
                __source_row=r.bad_source_rows,
                __position=r.bad_positions,
            )
            for r in results
        ],
        ignore_index=True,
    )
    bad = bad.sort_values("__position", kind="stable", ignore_index=True)
    examples = bad.drop_duplicates("__reason", keep="first").reset_index(drop=True)
    check = PartitionedCheck(
        table="events",
        rows_in=rows,
        reasons=examples["__reason"],
        row_result=_combine_results(results, rows),
        counts=ordered_reason_counts(bad["__reason"]),
        examples=examples.drop(columns=["__reason", "__source_row", "__position"]),
    )
    return check, bad


def _check_items(
    items: pd.DataFrame,
    suite: dict[str, Any],
    parameters: dict[str, Any],
    problems: pd.Series | None,
) -> TableCheck:
    if problems is None:
        problems = pd.Series(pd.NA, index=items.index, dtype="string")
    result = run_expectations(
        _derive_items(items), suite, "items", levels=("row",), parameters=parameters
    )
    return TableCheck("items", len(items), _first_reasons(problems, result), result)


def validate_partitioned(
    events: DayPartitions,
    items: pd.DataFrame,
    settings: ValidationParams,
    *,
    work_dir: str | Path,
    client: Client | None = None,
    partition_rows: int = 2_000_000,
    problems: pd.Series | None = None,
    source_rows: np.ndarray | None = None,
    baseline: BatchProfile | None = None,
    source_key: str = "",
    now: datetime | None = None,
) -> PartitionedValidation:
    """``validate_batch`` with the events as day partitions (packed as ingest writes them,
    or plain canonical columns); ``problems`` / ``source_rows`` are the items' (the events'
    travel in their partitions). Raw records of events that did not convert are restored in
    the quarantine here; the items' are the caller's (``raw_table.restore_records``)."""
    now = now or datetime.now(UTC)
    suites = {
        "items": load_suite_json(settings.items_suite),
        "events": load_suite_json(settings.events_suite),
    }
    _refuse_whole_column_rules(suites["events"], "events")
    items = items.reset_index(drop=True)
    notes = []
    if baseline is not None and baseline.source_key != source_key:
        notes.append(
            "the previous accepted batch came from another source: volume and mix not compared"
        )
        baseline = None
    elif baseline is None:
        notes.append("no previous accepted batch: volume and mix not compared")
    params = _parameters(settings, now, baseline)
    empty = [t for t, n in (("items", len(items)), ("events", events.rows)) if n == 0]
    if empty:
        raise DataError(f"{' and '.join(empty)}: no data rows (a header-only or empty export?)")

    items_check = _check_items(items, suites["items"], params["items"], problems)
    accepted_items = items.loc[items_check.reasons.isna().to_numpy()].reset_index(drop=True)
    params["events"]["item_ids"] = accepted_items["item_id"].tolist()

    runs = events.runs(partition_rows)
    log.info("events: %d rows in %d runs of days", events.rows, len(runs))
    partials = fan_out(client, count_users, runs)
    totals = combine_users(partials)
    null_users = any(p.null_users for p in partials)
    tasks = [
        (k, paths, totals.loc[p.events.index])
        for k, (paths, p) in enumerate(zip(runs, partials, strict=True))
    ]
    out_dir = Path(work_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = fan_out(
        client,
        check_run,
        tasks,
        suite=suites["events"],  # fan_out sends keyword values to the workers once
        parameters=params["events"],
        null_users=null_users,
        out_dir=str(out_dir),
    )
    events_check, bad = _events_check(results, events.rows)
    checks: dict[str, TableCheck] = {"items": items_check, "events": events_check}
    for table, check in checks.items():
        log.info(
            "%s: %d in, %d accepted, %d quarantined",
            table,
            check.rows_in,
            check.accepted,
            check.quarantined,
        )

    message = None
    limit = settings.max_bad_row_share
    over = [c for c in checks.values() if c.quarantined > limit * c.rows_in]
    frames = {"items": items, "events": events_check.examples}
    accepted_runs = [r.accepted_path for r in results]
    accepted_events = [r.accepted for r in results]
    if over:
        message = " | ".join(_share_message(c, frames[c.table], limit) for c in over)
    else:
        have_baseline = baseline is not None
        items_check.batch_result = run_expectations(
            _derive_items(accepted_items),
            suites["items"],
            "items",
            levels=("batch",),
            parameters=params["items"],
            have_baseline=have_baseline,
        )
        view = batch_view(
            accepted_runs,
            list(events_check.examples.columns),
            suites["events"],
            combine_users(accepted_events),
            any(p.null_users for p in accepted_events),
        )
        events_check.batch_result = run_expectations(
            view,
            suites["events"],
            "events",
            levels=("batch",),
            parameters=params["events"],
            have_baseline=have_baseline,
        )
        failed = [c.batch_result for c in checks.values() if not c.batch_result.success]
        if failed:
            message = " | ".join(r.message() for r in failed)

    quarantine = pd.concat(
        [
            _quarantine_frame(
                "items",
                items,
                items_check.reasons,
                np.arange(len(items)) if source_rows is None else source_rows,
            ),
            _quarantine_frame(
                "events",
                bad.drop(columns=["__reason", "__source_row", "__position"]),
                bad["__reason"],
                bad["__source_row"].to_numpy(),
            ),
        ],
        ignore_index=True,
    )
    records = [r.bad_records for r in results if r.bad_records is not None]
    if records:
        raw_table.restore_records(
            quarantine, "events", raw_table.Unpacked(bad, None, None, pd.concat(records))
        )
    ok = message is None
    profile = None
    if ok:
        profile = profile_of(
            pd.concat([p.event_types for p in accepted_events]).groupby(level=0).sum(),
            combine_users(accepted_events),
            sum(r.accepted_rows for r in results),
            len(accepted_items),
            source_key,
        )
    outcome = ValidationOutcome(
        accepted=ok,
        message=message,
        events=events_check.examples.iloc[:0],
        items=accepted_items,
        quarantine=quarantine,
        checks=checks,
        profile=profile,
        baseline=baseline,
        notes=notes,
    )
    return PartitionedValidation(outcome, accepted_runs)


__all__ = [
    "PartitionedCheck",
    "PartitionedValidation",
    "ordered_reason_counts",
    "validate_partitioned",
]
