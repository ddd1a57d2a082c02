"""Latency and throughput of ``shoprec serve`` against a naive service, at increasing rates.

A 100,000-item catalogue (synthetic: users shop in neighbourhoods of the catalogue, with a
popularity skew) and an ItemKNN model are registered and promoted in a temporary registry. Each
service runs in its own process on loopback; this process is the load generator: an open loop
(requests are sent on schedule, whether or not earlier ones have returned) at each rate, bounded
in count and time. 10% of requests are for unknown users (popularity fallback). With
``--two-stage DIR`` the pipeline's two-stage model (e.g. models/two_stage after ``make run``) is
measured too, on its own catalogue.

    python benchmarks/serving.py [--rates 50,100,200] [--seconds 5] [--two-stage DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from shoprec.features.interactions import Interactions
from shoprec.registry import LocalStore, Registry
from shoprec.training.model_table import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"
NAME = "itemknn"


def synthetic_shop(n_users: int, n_items: int, per_user: int, seed: int = 7):
    """Users shop mostly in one neighbourhood of 2,000 items (popularity-skewed within it),
    sometimes anywhere; items have a title, category, brand and price."""
    rng = np.random.default_rng(seed)
    width = 2000
    counts = rng.poisson(per_user, n_users) + 1
    users = np.repeat(np.arange(n_users), counts)
    home = rng.integers(0, n_items // width, n_users)[users]
    local = np.minimum(rng.zipf(1.3, len(users)) - 1, width - 1)
    items = (home * width + local) % n_items
    anywhere = rng.random(len(users)) < 0.2
    items[anywhere] = np.minimum(rng.zipf(1.2, anywhere.sum()) - 1, n_items - 1)
    matrix = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items)
    )
    matrix.sum_duplicates()
    item_ids = np.array([f"i{i:06d}" for i in range(n_items)])
    history = Interactions(matrix, np.array([f"u{u:06d}" for u in range(n_users)]), item_ids)
    nouns = np.array(["lamp", "chair", "mug", "scarf", "boots", "kettle", "desk", "rug"])
    catalogue = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": [f"{nouns[i % 8].title()} model {i}" for i in range(n_items)],
            "category": [f"dept{i // width}/aisle{(i // 100) % 20}" for i in range(n_items)],
            "brand": [f"brand{i % 300}" for i in range(n_items)],
            "price": np.round(rng.uniform(2, 300, n_items), 2),
        }
    )
    return history, catalogue


def publish(registry: Registry, name: str, model_dir: Path) -> None:
    version = registry.register(name, model_dir, "benchmark", {})
    registry.record_check(name, version, "servability", {"passed": True, "users": 0})
    registry.decide(name, version, "approved", "benchmark", "benchmark")
    registry.promote(name, version, "benchmark")


def start(cmd: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} exited: {proc.stderr.read().decode()[-500:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("service did not become ready")


async def open_loop(base: str, paths: list[str], rate: float, count: int, cap_s: float):
    """Send ``count`` requests at ``rate``/s on schedule; latencies (s) and failures."""
    latencies, failures = [], 0
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def one(i: int) -> None:
            nonlocal failures
            await asyncio.sleep(max(0.0, t0 + i / rate - loop.time()))
            if loop.time() - t0 > cap_s:
                return
            started = time.perf_counter()
            try:
                async with session.get(paths[i % len(paths)]) as reply:
                    await reply.read()
                    ok = reply.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append(time.perf_counter() - started)
            failures += not ok

        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = loop.time() - t0
    return np.array(latencies), failures, elapsed


async def one_at_a_time(base: str, paths: list[str], count: int) -> np.ndarray:
    """Latencies (s) of ``count`` requests sent one after another: the service time itself,
    without any queueing."""
    latencies = []
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=60)) as session:
        for i in range(count):
            started = time.perf_counter()
            async with session.get(paths[i % len(paths)]) as reply:
                await reply.read()
            latencies.append(time.perf_counter() - started)
    return np.array(latencies)


def measure(label, base, paths, rates, seconds, console) -> list[dict]:
    asyncio.run(one_at_a_time(base, paths[-20:], 20))  # warm-up
    alone = asyncio.run(one_at_a_time(base, paths, 60))
    rows = [
        {
            "service": label,
            "target_rps": 0.0,  # one request at a time
            "requests": len(alone),
            "failed": 0,
            "achieved_rps": round(len(alone) / alone.sum(), 1),
            "p50_ms": round(float(np.percentile(alone, 50)) * 1000, 2),
            "p95_ms": round(float(np.percentile(alone, 95)) * 1000, 2),
            "p99_ms": round(float(np.percentile(alone, 99)) * 1000, 2),
        }
    ]
    console.print(rows[0])
    for rate in rates:
        count = int(min(max(rate * seconds, 20), 4000))
        lat, failures, elapsed = asyncio.run(open_loop(base, paths, rate, count, seconds * 3))
        row = {
            "service": label,
            "target_rps": rate,
            "requests": len(lat),
            "failed": int(failures),
            "achieved_rps": round(len(lat) / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 2),
            "p95_ms": round(float(np.percentile(lat, 95)) * 1000, 2),
            "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 2),
        }
        rows.append(row)
        console.print(row)
        if row["p99_ms"] > 2000 or failures > len(lat) // 10:
            break  # saturated: higher rates only queue
    return rows


def keeps_up(row: dict) -> bool:
    """No failures and at least 90% of the target rate."""
    return row["failed"] == 0 and row["achieved_rps"] >= 0.9 * row["target_rps"]


def sustained(rows: list[dict], service: str) -> list[dict]:
    """The rates a service serves without queueing: it keeps up and its p99 stays < 100 ms."""
    return [r for r in rows if r["service"] == service and keeps_up(r) and r["p99_ms"] < 100]


def summarise(rows: list[dict]) -> dict:
    at = {(r["service"], r["target_rps"]): r for r in rows}
    ours = at.get(("shoprec", 200.0))
    summary: dict = {}
    if ours:
        summary["p99_ms_at_200_rps"] = ours["p99_ms"]
        summary["target_p99_under_20_ms_at_200_rps_met"] = ours["p99_ms"] < 20.0 and keeps_up(ours)
    for service in ("shoprec", "naive", "shoprec two_stage"):
        alone = at.get((service, 0.0))
        if alone:
            summary[f"{service}: one at a time p50 ms"] = alone["p50_ms"]
        kept = [r for r in sustained(rows, service) if r["target_rps"] > 0]
        summary[f"{service}: highest rps with p99 < 100 ms"] = (
            kept[-1]["target_rps"] if kept else None
        )
    if ("naive", 0.0) in at and ("shoprec", 0.0) in at:
        summary["naive_over_ours_one_at_a_time_p50"] = round(
            at[("naive", 0.0)]["p50_ms"] / at[("shoprec", 0.0)]["p50_ms"], 1
        )
    # the naive service against ours at the highest rate the naive one keeps up with
    naive = [r for r in rows if r["service"] == "naive" and r["target_rps"] > 0 and keeps_up(r)]
    if naive and ("shoprec", naive[-1]["target_rps"]) in at:
        theirs = naive[-1]
        mine = at[("shoprec", theirs["target_rps"])]
        summary["compared_at_rps"] = theirs["target_rps"]
        summary["naive_over_ours_p50"] = round(theirs["p50_ms"] / mine["p50_ms"], 1)
        summary["naive_over_ours_p99"] = round(theirs["p99_ms"] / mine["p99_ms"], 1)
    return summary


def request_paths(user_ids: np.ndarray, n: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    users = [str(u) for u in rng.choice(user_ids, n)]
    unknown = rng.random(n) < 0.1
    return [
        f"/v1/recommendations/{'new-visitor-' + str(i) if unknown[i] else u}?k=10"
        for i, u in enumerate(users)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--rates", default="2,10,50,100,200,400,800")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--two-stage", type=Path, default=None, help="a two-stage model folder")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    console = Console(width=160)
    work = Path(tempfile.mkdtemp(prefix="shoprec-serving-bench-"))

    started = time.perf_counter()
    history, catalogue = synthetic_shop(args.users, args.items, per_user=20)
    model = create_model(NAME, neighbors=50).fit(history)
    fit_s = time.perf_counter() - started
    console.print(
        f"catalogue {args.items:,} items, {args.users:,} users, {history.matrix.nnz:,} "
        f"interactions; ItemKNN fitted in {fit_s:.1f} s"
    )
    model_dir = model.save(work / "model")
    items_path = work / "items.parquet"
    catalogue.to_parquet(items_path)
    registry = Registry(LocalStore(work / "registry"))
    publish(registry, NAME, model_dir)
    paths = request_paths(history.user_ids, 2000)

    services = {
        "shoprec": [
            sys.executable,
            "-m",
            "shoprec",
            "serve",
            "--registry",
            str(work / "registry"),
            "--model",
            NAME,
            "--items",
            str(items_path),
        ],
        "naive": [
            sys.executable,
            str(ROOT / "benchmarks" / "naive_service.py"),
            "--model-dir",
            str(model_dir),
            "--items",
            str(items_path),
        ],
    }
    rows = []
    for label, cmd in services.items():
        port = 18000 + len(rows) + int(os.getpid() % 1000)
        proc = start([*cmd, "--port", str(port)], port)
        try:
            rows += measure(label, f"http://127.0.0.1:{port}", paths, rates, args.seconds, console)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    if args.two_stage:
        from shoprec.training.model_table import load_model

        ts_registry = Registry(LocalStore(work / "registry-two-stage"))
        publish(ts_registry, "two_stage", args.two_stage)
        ts_users = load_model(args.two_stage).history.user_ids
        port = 19500 + int(os.getpid() % 400)
        cmd = [
            sys.executable,
            "-m",
            "shoprec",
            "serve",
            "--registry",
            str(work / "registry-two-stage"),
            "--model",
            "two_stage",
            "--port",
            str(port),
        ]
        proc = start(cmd, port)
        try:
            rows += measure(
                "shoprec two_stage",
                f"http://127.0.0.1:{port}",
                request_paths(ts_users, 2000),
                rates,
                args.seconds,
                console,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    table = Table(title="serving latency (open loop, loopback, k=10, 10% unknown users)")
    for column in (
        "service",
        "target rps",
        "achieved rps",
        "requests",
        "failed",
        "p50 ms",
        "p95 ms",
        "p99 ms",
    ):
        table.add_column(column, justify="left" if column == "service" else "right")
    for r in rows:
        table.add_row(
            r["service"],
            f"{r['target_rps']:.0f}" if r["target_rps"] else "one at a time",
            f"{r['achieved_rps']:.0f}",
            str(r["requests"]),
            str(r["failed"]),
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
        )
    console.print(table)
    summary = summarise(rows)
    console.print(summary)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine_info(),
                "catalogue": {
                    "items": args.items,
                    "users": args.users,
                    "interactions": int(history.matrix.nnz),
                },
                "model": NAME,
                "fit_seconds": round(fit_s, 1),
                "seconds_per_rate": args.seconds,
                "rows": rows,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
