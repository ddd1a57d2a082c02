"""Validate one batch (events + items): quarantine bad rows, reject bad batches, lose nothing.

Order: conversion problems from ingest, then the row-level expectations of each suite (each
flagged row is quarantined with the reason of the first rule it breaks), then the share of bad
rows, then the batch-level expectations on the accepted rows (schema, volume and mix against
the previous accepted batch). Items go first, so that events can be checked against the
accepted catalogue. For every table: rows in = accepted + quarantined.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shoprec.config import ValidationParams
from shoprec.data.raw_table import empty_quarantine
from shoprec.data.schema import EVENT_COLUMNS, EVENT_OPTIONAL_COLUMNS
from shoprec.data.sources import read_canonical_files
from shoprec.errors import DataError
from shoprec.validation.baseline import BatchProfile, load_profile
from shoprec.validation.report import write_report
from shoprec.validation.suites import SuiteResult, load_suite_json, run_expectations

log = logging.getLogger(__name__)

TABLES = ("items", "events")


@dataclass
class TableCheck:
    table: str
    rows_in: int
    reasons: pd.Series  # per input row: quarantine reason or <NA>
    row_result: SuiteResult
    batch_result: SuiteResult | None = None

    @property
    def quarantined(self) -> int:
        return int(self.reasons.notna().sum())

    @property
    def accepted(self) -> int:
        return self.rows_in - self.quarantined

    def reason_counts(self) -> dict[str, int]:
        counts = self.reasons.value_counts().sort_values(ascending=False)
        return {str(k): int(v) for k, v in counts.items()}


@dataclass
class ValidationOutcome:
    accepted: bool
    message: str | None
    events: pd.DataFrame
    items: pd.DataFrame
    quarantine: pd.DataFrame
    checks: dict[str, TableCheck]
    profile: BatchProfile | None
    baseline: BatchProfile | None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            t: {"in": c.rows_in, "accepted": c.accepted, "quarantined": c.quarantined}
            for t, c in self.checks.items()
        }

    def summary(self) -> dict[str, Any]:
        results = []
        for check in self.checks.values():
            for result in (check.row_result, check.batch_result):
                if result is not None:
                    results.append(result.to_dict())
        return {
            "accepted": self.accepted,
            "message": self.message,
            "counts": self.counts(),
            "quarantine_reasons": {t: c.reason_counts() for t, c in self.checks.items()},
            "compared_with": None if self.baseline is None else self.baseline.describe(),
            "suites": results,
            "notes": self.notes,
        }


def _records(df: pd.DataFrame) -> list[str]:
    plain = df.astype(object).where(df.notna(), None)
    return [json.dumps(r, default=str) for r in plain.to_dict(orient="records")]


def _first_reasons(problems: pd.Series, result: SuiteResult) -> pd.Series:
    """The quarantine reason of each row: its conversion problem, else the first broken rule."""
    reasons = problems.astype("string").reset_index(drop=True).copy()
    values = reasons.to_numpy(dtype=object, na_value=None)
    for outcome in result.outcomes:
        if outcome.success or outcome.rows is None or len(outcome.rows) == 0:
            continue
        label = outcome.reason or f"{outcome.expectation}:{outcome.column}"
        rows = outcome.rows[[values[i] is None for i in outcome.rows]]
        values[rows] = label
    return pd.Series(values, dtype="string")


def _derive_items(items: pd.DataFrame) -> pd.DataFrame:
    out = items.copy()
    out["is_repeat_id"] = items["item_id"].notna() & items["item_id"].duplicated(keep="first")
    return out


def _derive_events(events: pd.DataFrame) -> pd.DataFrame:
    out = events.copy()
    by_user = events.groupby("user_id", dropna=True)
    out["user_event_count"] = by_user["user_id"].transform("size")
    out["user_distinct_items"] = by_user["item_id"].transform("nunique")
    canonical = [c for c in (*EVENT_COLUMNS, *EVENT_OPTIONAL_COLUMNS) if c in events.columns]
    out["is_repeat_row"] = events.duplicated(subset=canonical, keep="first")
    return out


def _parameters(
    settings: ValidationParams, now: datetime, baseline: BatchProfile | None
) -> dict[str, dict[str, Any]]:
    common = {
        "max_id_length": settings.max_id_length,
        "max_text_length": settings.max_text_length,
        "max_price": settings.max_price,
        "max_quantity": settings.max_quantity,
        "max_events_per_user": settings.max_events_per_user,
        "min_timestamp": settings.min_timestamp.astimezone(UTC).isoformat(),
        "max_timestamp": (now + timedelta(minutes=settings.max_future_minutes)).isoformat(),
        "max_event_mix_kl": settings.max_event_mix_kl,
    }
    per_table = {"items": dict(common), "events": dict(common)}
    if baseline is not None:
        v, m = settings.volume, settings.items_per_user
        for table, rows in (("items", baseline.items_rows), ("events", baseline.events_rows)):
            per_table[table]["min_rows"] = int(np.floor(rows * v.min_ratio))
            per_table[table]["max_rows"] = int(np.ceil(rows * v.max_ratio))
        per_table["events"]["event_mix"] = {
            "values": list(baseline.event_mix),
            "weights": list(baseline.event_mix.values()),
        }
        per_table["events"]["min_median_items_per_user"] = (
            baseline.median_items_per_user * m.min_ratio
        )
        per_table["events"]["max_median_items_per_user"] = (
            baseline.median_items_per_user * m.max_ratio
        )
    return per_table


def _example(frame: pd.DataFrame, mask: pd.Series, columns: tuple[str, ...]) -> str:
    row = frame.loc[mask.fillna(False).to_numpy(dtype=bool)].iloc[0]
    shown = {c: None if pd.isna(row[c]) else row[c] for c in columns if c in frame.columns}
    return ", ".join(f"{c}={v!r}" if isinstance(v, str) else f"{c}={v}" for c, v in shown.items())


def _share_message(check: TableCheck, frame: pd.DataFrame, limit: float) -> str:
    share = check.quarantined / max(1, check.rows_in)
    rules = {}
    for outcome in check.row_result.failures:
        rules.setdefault(outcome.reason or f"{outcome.expectation}:{outcome.column}", outcome)
    keys = ("user_id", "item_id", "event_type", "timestamp", "price", "title")
    parts = []
    for reason, count in list(check.reason_counts().items())[:3]:
        outcome = rules.get(reason)
        rule = f"{outcome.expectation} on '{outcome.column}', " if outcome else ""
        example = _example(frame, check.reasons == reason, keys)
        parts.append(f"{reason} {count:,} rows ({rule}e.g. {example})")
    return (
        f"{check.table}: {share:.1%} of {check.rows_in:,} rows break row rules, more than "
        f"validation.max_bad_row_share = {limit:.1%}: " + "; ".join(parts)
    )


def _quarantine_frame(
    table: str, frame: pd.DataFrame, reasons: pd.Series, source_rows
) -> pd.DataFrame:
    mask = reasons.notna().to_numpy()
    if not mask.any():
        return empty_quarantine()
    bad = frame.loc[mask]
    return pd.DataFrame(
        {
            "table": pd.Series([table] * int(mask.sum()), dtype="string"),
            "source_row": np.asarray(source_rows)[mask].astype("int64"),
            "reason": reasons[mask].to_numpy(),
            "record": pd.Series(_records(bad), dtype="string"),
        }
    )


def validate_batch(
    events: pd.DataFrame,
    items: pd.DataFrame,
    settings: ValidationParams,
    *,
    problems: dict[str, pd.Series] | None = None,
    source_rows: dict[str, np.ndarray] | None = None,
    baseline: BatchProfile | None = None,
    source_key: str = "",
    now: datetime | None = None,
    raw: dict[str, pd.DataFrame] | None = None,
) -> ValidationOutcome:
    """Check a batch. Bad rows and bad batches are reported in the outcome; ``DataError`` is
    raised only when there is nothing to check (a table without rows) or a suite is broken.

    ``raw``: per table, the rows as read before conversion (same rows, same order); the
    quarantine records and the examples in messages then show the values as they were."""
    now = now or datetime.now(UTC)
    suites = {
        "items": load_suite_json(settings.items_suite),
        "events": load_suite_json(settings.events_suite),
    }
    frames = {"items": items.reset_index(drop=True), "events": events.reset_index(drop=True)}
    originals = {
        t: raw[t].reset_index(drop=True)
        if raw and t in raw and len(raw[t]) == len(frames[t])
        else frames[t]
        for t in TABLES
    }
    problems = problems or {}
    source_rows = source_rows or {}
    notes = []
    if baseline is not None and baseline.source_key != source_key:
        notes.append(
            "the previous accepted batch came from another source: volume and mix not compared"
        )
        baseline = None
    elif baseline is None:
        notes.append("no previous accepted batch: volume and mix not compared")
    params = _parameters(settings, now, baseline)

    empty = [t for t in TABLES if frames[t].empty]
    if empty:
        raise DataError(f"{' and '.join(empty)}: no data rows (a header-only or empty export?)")

    checks: dict[str, TableCheck] = {}
    accepted: dict[str, pd.DataFrame] = {}
    derive = {"items": _derive_items, "events": _derive_events}
    for table in TABLES:
        frame = frames[table]
        table_problems = problems.get(table)
        if table_problems is None:
            table_problems = pd.Series(pd.NA, index=frame.index, dtype="string")
        if table == "events":
            params["events"]["item_ids"] = accepted["items"]["item_id"].tolist()
        row_result = run_expectations(
            derive[table](frame), suites[table], table, levels=("row",), parameters=params[table]
        )
        reasons = _first_reasons(table_problems, row_result)
        checks[table] = TableCheck(table, len(frame), reasons, row_result)
        accepted[table] = frame.loc[reasons.isna().to_numpy()].reset_index(drop=True)
        log.info(
            "%s: %d in, %d accepted, %d quarantined",
            table,
            len(frame),
            checks[table].accepted,
            checks[table].quarantined,
        )

    message = None
    over = [c for c in checks.values() if c.quarantined > settings.max_bad_row_share * c.rows_in]
    if over:
        message = " | ".join(
            _share_message(c, originals[c.table], settings.max_bad_row_share) for c in over
        )
    else:
        for table in TABLES:
            result = run_expectations(
                derive[table](accepted[table]),
                suites[table],
                table,
                levels=("batch",),
                parameters=params[table],
                have_baseline=baseline is not None,
            )
            checks[table].batch_result = result
        failed = [c.batch_result for c in checks.values() if not c.batch_result.success]
        if failed:
            message = " | ".join(r.message() for r in failed)

    quarantine = pd.concat(
        [
            _quarantine_frame(
                t, originals[t], checks[t].reasons, source_rows.get(t, np.arange(len(frames[t])))
            )
            for t in TABLES
        ],
        ignore_index=True,
    )
    ok = message is None
    profile = BatchProfile.of(accepted["events"], accepted["items"], source_key) if ok else None
    return ValidationOutcome(
        accepted=ok,
        message=message,
        events=accepted["events"],
        items=accepted["items"],
        quarantine=quarantine,
        checks=checks,
        profile=profile,
        baseline=baseline,
        notes=notes,
    )


def validate_files(
    events_path: str | Path,
    items_path: str | Path,
    settings: ValidationParams,
    baseline_path: str | Path | None = None,
    report_dir: str | Path | None = None,
) -> ValidationOutcome:
    """``shoprec validate``: check canonical CSV(.gz)/Parquet files as exported.

    With ``baseline_path``, the batch is compared with the profile stored there and, when
    accepted, becomes the new one. With ``report_dir``, the HTML report and JSON summary are
    written there whatever the verdict.
    """
    data = read_canonical_files(events_path, items_path)
    outcome = validate_batch(
        data.events,
        data.items,
        settings,
        problems=data.problems,
        baseline=load_profile(baseline_path),
        source_key="files",
        raw=data.raw,
    )
    if report_dir is not None:
        write_report(outcome.summary(), report_dir)
    if outcome.accepted and baseline_path is not None:
        outcome.profile.save(baseline_path)
    return outcome


__all__ = ["ValidationOutcome", "validate_batch", "validate_files"]
