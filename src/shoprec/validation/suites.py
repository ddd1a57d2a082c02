"""Run a Great Expectations suite from ``expectations/`` on a table.

A suite is a JSON file (``ExpectationSuite.to_json_dict()`` format) versioned with the code.
Each expectation's ``meta`` says how shoprec uses it:

- ``level``: ``row`` (the rows it flags are quarantined with ``reason``, the rest continue) or
  ``batch`` (any failure rejects the whole batch). Anything else counts as ``batch``.
- ``reason``: the quarantine reason of a row-level expectation.
- ``optional_column``: the column is optional in the contract; skip when it is absent.
- ``needs_baseline``: compares with the previous accepted batch; skipped on the first batch.

Values such as the accepted item ids or the timestamp window are passed in as suite
parameters (``{"$PARAMETER": "name"}``). A suite that is missing, unreadable or has no
expectations counts as a failure, never as a pass (Great Expectations itself reports an empty
suite as a success).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shoprec.errors import DataError

log = logging.getLogger(__name__)

_ORDER = "shoprec_position"  # meta key: an expectation's position in its suite file


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    level: str
    success: bool
    reason: str | None = None
    unexpected_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    observed_value: Any = None
    rows: np.ndarray | None = field(default=None, repr=False)
    expected: str | None = None  # the bounds it checks ("3290 to 19740"), when it has some

    def describe(self) -> str:
        where = f" on column '{self.column}'" if self.column else ""
        details = []
        if self.unexpected_count:
            details.append(f"{self.unexpected_count:,} unexpected value(s)")
        if self.examples:
            details.append("e.g. " + ", ".join(_short(v) for v in self.examples[:5]))
        elif self.observed_value is not None:
            details.append(f"observed {_short(self.observed_value)}")
        if details and self.expected:
            details.append(f"expected {self.expected}")
        return f"{self.expectation}{where}" + (": " + "; ".join(details) if details else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "level": self.level,
            "success": self.success,
            "reason": self.reason,
            "unexpected_count": self.unexpected_count,
            "examples": self.examples,
            "observed_value": self.observed_value,
            "expected": self.expected,
        }


@dataclass
class SuiteResult:
    suite: str
    table: str
    rows: int
    outcomes: list[ExpectationOutcome]
    skipped: list[str] = field(default_factory=list)
    level: str = "all"

    @property
    def success(self) -> bool:
        # A whole suite with nothing in it never passes; one level of a suite may be empty.
        return (bool(self.outcomes) or self.level != "all") and all(
            o.success for o in self.outcomes
        )

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "table": self.table,
            "level": self.level,
            "rows": self.rows,
            "success": self.success,
            "expectations": len(self.outcomes),
            "failed": [o.to_dict() for o in self.failures],
            "skipped": self.skipped,
        }

    def message(self) -> str:
        failed = "; ".join(o.describe() for o in self.failures[:3])
        more = f" (and {len(self.failures) - 3} more)" if len(self.failures) > 3 else ""
        return f"{self.table} rejected by suite '{self.suite}': {failed}{more}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    if not all(isinstance(e, dict) and e.get("type") for e in raw["expectations"]):
        raise DataError(f"{path}: every expectation needs a 'type'")
    return raw


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    # GE logs every temporary docs folder at INFO; keep the stage log about the data.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return gx


def level_of(expectation: dict[str, Any]) -> str:
    return "row" if (expectation.get("meta") or {}).get("level") == "row" else "batch"


def select_expectations(
    raw: dict[str, Any], columns: list[str], levels: tuple[str, ...], have_baseline: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """The expectations of the given levels that apply to this table, and why others are skipped."""
    chosen, skipped = [], []
    for expectation in raw["expectations"]:
        meta = expectation.get("meta") or {}
        column = (expectation.get("kwargs") or {}).get("column")
        label = f"{expectation['type']}({column})" if column else expectation["type"]
        if level_of(expectation) not in levels:
            continue
        if meta.get("optional_column") and column not in columns:
            skipped.append(f"{label}: optional column absent")
        elif meta.get("needs_baseline") and not have_baseline:
            skipped.append(f"{label}: no previous accepted batch to compare with")
        else:
            chosen.append(expectation)
    return chosen, skipped


def run_expectations(
    df: pd.DataFrame,
    raw: dict[str, Any],
    table: str,
    *,
    levels: tuple[str, ...] = ("row", "batch"),
    parameters: dict[str, Any] | None = None,
    have_baseline: bool = False,
) -> SuiteResult:
    """Validate ``df``; row-level outcomes carry the positional indices of the rows they flag."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.exceptions import SuiteParameterError

    chosen, skipped = select_expectations(raw, list(df.columns), levels, have_baseline)
    label = levels[0] if len(levels) == 1 else "all"
    name = raw.get("name") or table
    if not chosen:
        return SuiteResult(
            suite=name, table=table, rows=len(df), outcomes=[], skipped=skipped, level=label
        )
    # Great Expectations groups its results by column; keep the suite's order, which is the
    # order of precedence of the quarantine reasons ("the first rule a row breaks").
    chosen = [
        {**e, "meta": {**(e.get("meta") or {}), _ORDER: position}}
        for position, e in enumerate(chosen)
    ]
    try:
        suite = gx.ExpectationSuite(name=name, expectations=chosen, meta=raw.get("meta") or {})
    except Exception as exc:  # GE raises many types for a malformed expectation
        detail = " ".join(str(exc).split())  # pydantic errors span lines: keep one
        raise DataError(f"suite '{name}': cannot load an expectation ({detail})") from None
    if len(suite.expectations) != len(chosen):
        # GE logs an expectation it cannot build (unknown type, bad arguments) and drops it:
        # that rule would never run, so the suite is broken, never a pass.
        built = Counter(e.expectation_type for e in suite.expectations)
        lost = sorted((Counter(e["type"] for e in chosen) - built).elements())
        raise DataError(
            f"suite '{name}': cannot load expectation(s) {', '.join(lost)} "
            "(unknown type or invalid arguments)"
        )
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    frame = df.reset_index(drop=True)
    source = context.data_sources.add_pandas(f"shoprec_{table}")
    try:
        batch = (
            source.add_dataframe_asset(table)
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        result = batch.validate(
            suite,
            expectation_parameters=parameters or {},
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": 5},
        )
    except SuiteParameterError as exc:  # the suite names a parameter shoprec does not pass
        raise DataError(f"suite '{name}': {exc}") from None
    finally:
        # the context stays current after this call, and its data source holds the frame:
        # without this a checked table stays in memory until the next check
        context.data_sources.delete(source.name)
    outcomes = []
    in_suite_order = sorted(
        result.results, key=lambda r: (r.expectation_config.meta or {}).get(_ORDER, 0)
    )
    for item in in_suite_order:
        config = item.expectation_config
        meta = config.meta or {}
        level = "row" if meta.get("level") == "row" else "batch"
        details = item.result or {}
        rows = None
        if level == "row" and not item.success:
            rows = np.asarray(details.get("unexpected_index_list") or [], dtype=np.int64)
        observed = details.get("observed_value")
        if observed is None and not item.success and not details:
            info = item.exception_info or {}
            observed = info.get("exception_message") or "could not be evaluated"
        missing = ((details.get("details") or {}).get("mismatched") or {}).get("missing")
        if missing and not item.success:  # a schema failure: name the absent columns first
            observed = {"missing": missing}
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column"),
                level=level,
                success=bool(item.success),
                reason=meta.get("reason"),
                unexpected_count=details.get("unexpected_count"),
                examples=[_plain(v) for v in details.get("partial_unexpected_list") or []][:5],
                observed_value=_plain(observed),
                rows=rows,
                expected=_bounds(config.kwargs),
            )
        )
    failed = sum(not o.success for o in outcomes)
    log.info("%s: %d expectations, %d failed", table, len(outcomes), failed)
    return SuiteResult(
        suite=name, table=table, rows=len(df), outcomes=outcomes, skipped=skipped, level=label
    )


def validate_table(df: pd.DataFrame, suite_path: str | Path, table: str, **kwargs) -> SuiteResult:
    """Validate ``df`` against the suite file at ``suite_path`` (all levels)."""
    return run_expectations(df, load_suite_json(suite_path), table, **kwargs)


def _bounds(kwargs: dict[str, Any]) -> str | None:
    """The limits an expectation checks, as the parameters made them, for its message."""
    low, high = _plain(kwargs.get("min_value")), _plain(kwargs.get("max_value"))
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    if kwargs.get("threshold") is not None:
        return f"below {_plain(kwargs['threshold'])}"
    return None


def _plain(value: Any) -> Any:
    """Make a value JSON-friendly for the summary."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float, repr'd oddly
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
