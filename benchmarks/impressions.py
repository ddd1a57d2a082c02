"""What recording impressions costs a request: the same model served with the impressions log off
and on, in the same run, at a fixed offered rate.

An ItemKNN model of a synthetic shop (``benchmarks/serving.py``'s generator, smaller by default)
is registered and promoted; ``shoprec serve`` is started with ``serving.impressions`` empty and
set to a folder, alternately (off-on, then on-off, ...), ``--rounds`` times each, so drift in the
machine's load hits both alike. Each run: 60 requests one at a time (the service time), then an
open loop at ``--rate`` for ``--seconds``. After each "on" run the log is read back: rows
written must equal requests answered. Also timed in this process: building one row and
appending it (the request path's whole share of the work).

    python benchmarks/impressions.py [--rate 200] [--seconds 15] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from shoprec.impressions import ImpressionWriter, impression, open_log, read_impressions
from shoprec.registry import LocalStore, Registry
from shoprec.training.model_table import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info
from serving import one_at_a_time, open_loop, publish, request_paths, start, synthetic_shop

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "impressions.json"
NAME = "itemknn"


def percentiles(latencies: np.ndarray) -> dict:
    return {f"p{q}_ms": round(float(np.percentile(latencies, q)) * 1000, 2) for q in (50, 95, 99)}


def record_cost_us(n: int = 100_000) -> float:
    """Microseconds to build one impression row and append it to a writer (no flush)."""
    writer = ImpressionWriter(LocalStore(tempfile.mkdtemp(prefix="shoprec-imp-")), 3600)
    items = [f"i{i:06d}" for i in range(10)]
    started = time.perf_counter()
    for i in range(n):
        writer.record(impression(f"r{i}", "u000001", NAME, 1, False, items, k=10))
    return round((time.perf_counter() - started) / n * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    console = Console(width=140)
    work = Path(tempfile.mkdtemp(prefix="shoprec-impressions-bench-"))
    history, catalogue = synthetic_shop(args.users, args.items, per_user=20)
    model_dir = create_model(NAME, neighbors=50).fit(history).save(work / "model")
    items_path = work / "items.parquet"
    catalogue.to_parquet(items_path)
    publish(Registry(LocalStore(work / "registry")), NAME, model_dir)
    paths = request_paths(history.user_ids, 2000)
    base_params = yaml.safe_load((ROOT / "params.yaml").read_text())
    base_params["serving"]["savedmodels"] = {}

    rows, written = [], []
    for round_ in range(args.rounds):
        for label in ("off", "on") if round_ % 2 == 0 else ("on", "off"):  # ABBA: no order bias
            log_dir = work / f"impressions-{round_}"
            settings = {**base_params, "serving": {**base_params["serving"]}}
            settings["serving"]["impressions"] = str(log_dir) if label == "on" else ""
            params = work / f"params-{label}.yaml"
            params.write_text(yaml.safe_dump(settings))
            port = 19000 + int(os.getpid() % 500) + 2 * round_ + (label == "on")
            cmd = [sys.executable, "-m", "shoprec", "serve", "--registry", str(work / "registry")]
            cmd += ["--model", NAME, "--params", str(params), "--items", str(items_path)]
            proc = start([*cmd, "--port", str(port)], port)
            base = f"http://127.0.0.1:{port}"
            try:
                asyncio.run(one_at_a_time(base, paths[-20:], 20))  # warm-up
                alone = asyncio.run(one_at_a_time(base, paths, 60))
                count = int(args.rate * args.seconds)
                lat, failures, elapsed = asyncio.run(
                    open_loop(base, paths, args.rate, count, args.seconds * 3)
                )
            finally:
                proc.terminate()  # SIGTERM: a clean stop writes what is pending
                proc.wait(timeout=60)
            row = {
                "impressions": label,
                "round": round_ + 1,
                "one_at_a_time_p50_ms": round(float(np.percentile(alone, 50)) * 1000, 2),
                "target_rps": args.rate,
                "achieved_rps": round(len(lat) / elapsed, 1),
                "requests": len(lat),
                "failed": int(failures),
                **percentiles(lat),
            }
            if label == "on":
                answered = 20 + len(alone) + len(lat) - failures
                logged = len(read_impressions(open_log(log_dir)))
                written.append({"round": round_ + 1, "answered": answered, "logged": logged})
                row["logged"] = logged
            rows.append(row)
            console.print(row)

    summary: dict = {}
    for label in ("off", "on"):
        mine = [r for r in rows if r["impressions"] == label]
        summary[label] = {
            key: round(float(np.median([r[key] for r in mine])), 2)
            for key in ("one_at_a_time_p50_ms", "p50_ms", "p95_ms", "p99_ms")
        }
    summary["on_over_off"] = {
        key: round(summary["on"][key] / summary["off"][key], 2) for key in summary["on"]
    }
    summary["record_us_per_request"] = record_cost_us()
    summary["every_answer_logged"] = all(w["answered"] == w["logged"] for w in written)

    table = Table(title=f"impressions off and on (ItemKNN, open loop at {args.rate:.0f}/s, k=10)")
    for column in ("impressions", "round", "alone p50 ms", "achieved", "failed", "p50 ms",
                   "p95 ms", "p99 ms", "rows logged"):  # fmt: skip
        table.add_column(column, justify="left" if column == "impressions" else "right")
    for r in rows:
        table.add_row(
            r["impressions"],
            str(r["round"]),
            f"{r['one_at_a_time_p50_ms']:.2f}",
            f"{r['achieved_rps']:.0f}",
            str(r["failed"]),
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            str(r.get("logged", "")),
        )
    console.print(table)
    console.print(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": machine_info(),
                "catalogue": {"items": args.items, "users": args.users},
                "model": NAME,
                "rate": args.rate,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "rows": rows,
                "written": written,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
