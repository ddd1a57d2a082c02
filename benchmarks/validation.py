"""Speed of data validation: rows/second for the full suite on 1,000,000 events.

Generates a synthetic shop of about a million events (not timed), writes it as Parquet, then
times ``validate_files`` (read, type conversion, row rules with quarantine, batch rules
including volume and event-mix against a previous accepted batch) and, as the reference in
the same run, one bare Great Expectations validation of the same events suite on the same,
already-converted frame. Goal: under 15 s for the full suite on this 2-core machine.

    python benchmarks/validation.py [--users 16000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shoprec.config import load_params
from shoprec.data.sources import read_canonical_files
from shoprec.data.synthetic import generate_shop
from shoprec.validation.batch import _derive_events, validate_files
from shoprec.validation.suites import load_suite_json, run_expectations

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16000)
    parser.add_argument("--items", type=int, default=8000)
    parser.add_argument("--days", type=int, default=56)
    args = parser.parse_args()

    settings = load_params(ROOT / "params.yaml").validation.relative_to(ROOT)
    console = Console(width=160)
    _, import_s = timed(lambda: __import__("great_expectations"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        events, items = generate_shop(args.users, args.items, args.days, seed=11)
        events.to_parquet(tmp / "events.parquet", index=False)
        items.to_parquet(tmp / "items.parquet", index=False)
        baseline = tmp / "baseline.json"
        console.print(f"{len(events):,} events, {len(items):,} items")

        first, first_s = timed(
            lambda: validate_files(
                tmp / "events.parquet", tmp / "items.parquet", settings, baseline
            )
        )
        full, full_s = timed(
            lambda: validate_files(
                tmp / "events.parquet", tmp / "items.parquet", settings, baseline
            )
        )
        assert first.accepted and full.accepted, (first.message, full.message)
        data, read_s = timed(
            lambda: read_canonical_files(tmp / "events.parquet", tmp / "items.parquet")
        )
        frame = _derive_events(data.events)
        suite = load_suite_json(settings.events_suite)
        params = {
            "max_id_length": 64,
            "max_price": 1e6,
            "max_quantity": 1e5,
            "max_events_per_user": 20000,
            "min_timestamp": "1995-01-01T00:00:00+00:00",
            "max_timestamp": "2100-01-01T00:00:00+00:00",
            "item_ids": data.items["item_id"].tolist(),
        }
        _, bare_s = timed(
            lambda: run_expectations(frame, suite, "events", levels=("row",), parameters=params)
        )

    rows = len(events)
    results = {
        "events": rows,
        "items": len(items),
        "full_suite_first_batch_seconds": round(first_s, 2),
        "full_suite_with_baseline_seconds": round(full_s, 2),
        "rows_per_second": round(rows / full_s),
        "read_and_convert_seconds": round(read_s, 2),
        "great_expectations_import_seconds_once_per_process": round(import_s, 2),
        "bare_ge_events_row_rules_seconds": round(bare_s, 2),
        "overhead_vs_bare_ge": round(full_s / bare_s, 2),
        "goal_seconds": 15,
        "meets_goal": full_s < 15,
    }
    table = Table(title=f"Validation of {rows:,} events + {len(items):,} items")
    table.add_column("what")
    table.add_column("seconds", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_row(
        "full suite, first batch (no baseline)", f"{first_s:.2f}", f"{rows / first_s:,.0f}"
    )
    table.add_row("full suite, with volume/mix checks", f"{full_s:.2f}", f"{rows / full_s:,.0f}")
    table.add_row("  of which: read + convert", f"{read_s:.2f}", "")
    table.add_row("once per process: import great_expectations", f"{import_s:.2f}", "")
    table.add_row(
        "reference: bare GE, events row rules only", f"{bare_s:.2f}", f"{rows / bare_s:,.0f}"
    )
    console.print(table)
    verdict = "meets" if full_s < 15 else "MISSES"
    console.print(f"full suite {verdict} the 15 s goal; {full_s / bare_s:.2f}× a bare GE run")
    out = ROOT / "benchmarks/results/validation.json"
    out.write_text(
        json.dumps({"benchmark": "validation", "machine": machine_info(), **results}, indent=2)
        + "\n"
    )
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
