"""Run the Great Expectations suites in ``expectations/`` against a table.

A suite is a JSON file (``ExpectationSuite.to_json_dict()`` format) versioned with the code.
A suite that is missing, unreadable or empty counts as a failure, never as a pass (Great
Expectations itself reports an empty suite as a success).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shoprec.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    observed_value: Any = None

    def describe(self) -> str:
        where = f" on column '{self.column}'" if self.column else ""
        parts = [f"{self.expectation}{where}"]
        if self.unexpected_count:
            parts.append(f"{self.unexpected_count} unexpected value(s)")
        if self.examples:
            shown = ", ".join(repr(v) for v in self.examples[:5])
            parts.append(f"e.g. {shown}")
        elif self.observed_value is not None:
            parts.append(f"observed {self.observed_value!r}")
        return ": ".join(parts[:1]) + (": " + "; ".join(parts[1:]) if len(parts) > 1 else "")


@dataclass
class SuiteResult:
    suite: str
    table: str
    rows: int
    outcomes: list[ExpectationOutcome]

    @property
    def success(self) -> bool:
        return bool(self.outcomes) and all(o.success for o in self.outcomes)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "table": self.table,
            "rows": self.rows,
            "success": self.success,
            "expectations": len(self.outcomes),
            "failed": [o.__dict__ for o in self.failures],
        }

    def message(self) -> str:
        failed = "; ".join(o.describe() for o in self.failures[:3])
        more = f" (and {len(self.failures) - 3} more)" if len(self.failures) > 3 else ""
        return f"{self.table} rejected by suite '{self.suite}': {failed}{more}"


def load_suite_json(path: str | Path) -> dict[str, Any]:
    """Read a suite file; raise ``DataError`` if it is missing, malformed or empty."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expectation suite not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: expectation suite is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or not raw.get("expectations"):
        raise DataError(
            f"{path}: expectation suite has no expectations; an empty suite never passes"
        )
    return raw


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    # GE logs every temporary docs folder at INFO; keep the stage log about the data.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return gx


def validate_table(df: pd.DataFrame, suite_path: str | Path, table: str) -> SuiteResult:
    """Validate ``df`` against the suite at ``suite_path``; never raises on a failed expectation."""
    raw = load_suite_json(suite_path)
    gx = _gx()
    try:
        suite = gx.ExpectationSuite(
            name=raw.get("name") or table,
            expectations=raw["expectations"],
            meta=raw.get("meta") or {},
        )
    except Exception as exc:  # GE raises many types for a malformed expectation
        raise DataError(f"{suite_path}: cannot load expectation suite ({exc})") from None
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(f"shoprec_{table}")
        .add_dataframe_asset(table)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    result = batch.validate(suite, result_format={"result_format": "SUMMARY"})
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        exception = (item.exception_info or {}).get("exception_message")
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column"),
                success=bool(item.success),
                unexpected_count=details.get("unexpected_count"),
                examples=[_plain(v) for v in details.get("partial_unexpected_list") or []][:5],
                observed_value=_plain(details.get("observed_value") or exception),
            )
        )
    log.info(
        "%s: %d expectations, %d failed", table, len(outcomes), sum(not o.success for o in outcomes)
    )
    return SuiteResult(suite=suite.name, table=table, rows=len(df), outcomes=outcomes)


def _plain(value: Any) -> Any:
    """Make a value JSON-friendly for the summary."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
