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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml
from rich.console import Console
from rich.table import Table

from shoprec.features.interactions import Interactions
from shoprec.ranking.precomputed import PrecomputedLists
from shoprec.registry import LocalStore, Registry
from shoprec.serving.engine import LISTS_DIR
from shoprec.training.model_table import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results" / "serving.json"
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


def best_rate(rows: list[dict], service: str, p99_ms: float) -> float | None:
    """The highest target rate a service keeps up with (no failures, ≥ 90% of the rate)
    with p99 under ``p99_ms``."""
    kept = [
        r
        for r in rows
        if r["service"] == service and r["target_rps"] > 0 and keeps_up(r) and r["p99_ms"] < p99_ms
    ]
    return max((r["target_rps"] for r in kept), default=None)


def summarise(rows: list[dict], memory: dict | None = None) -> dict:
    at = {(r["service"], r["target_rps"]): r for r in rows}
    services = list(dict.fromkeys(r["service"] for r in rows))
    summary: dict = {}
    for service in services:
        alone = at.get((service, 0.0))
        if alone:
            summary[f"{service}: one at a time p50 ms"] = alone["p50_ms"]
        at_200 = at.get((service, 200.0))
        summary[f"{service}: p99 ms at 200 rps"] = at_200["p99_ms"] if at_200 else None
        summary[f"{service}: highest rps with p99 < 10 ms"] = best_rate(rows, service, 10.0)
        summary[f"{service}: highest rps with p99 < 50 ms"] = best_rate(rows, service, 50.0)
    targets = {}
    for service in ("shoprec two_stage", "shoprec two_stage 2 workers"):
        if (service, 200.0) in at:
            r200 = at[(service, 200.0)]
            fast = best_rate(rows, service, 50.0)
            targets[f"{service}: p99 < 10 ms at 200 rps"] = keeps_up(r200) and r200["p99_ms"] < 10
            targets[f"{service}: >= 400 rps with p99 < 50 ms"] = bool(fast and fast >= 400)
    for service in ("shoprec", "shoprec 2 workers"):
        if (service, 0.0) in at:
            fast = best_rate(rows, service, 10.0)
            targets[f"{service} (ItemKNN): >= 500 rps with p99 < 10 ms"] = bool(
                fast and fast >= 500
            )
    for one, two in (
        ("shoprec", "shoprec 2 workers"),
        ("shoprec two_stage", "shoprec two_stage 2 workers"),
    ):
        if memory and one in memory and two in memory:
            ratio = round(memory[two]["pss_mib"] / memory[one]["pss_mib"], 2)
            summary[f"{two}: memory (PSS) over one worker"] = ratio
            targets[f"{two}: memory < 1.3x one worker"] = ratio < 1.3
    for peer in ("naive", "implicit item-kNN"):
        if (peer, 0.0) in at and ("shoprec", 0.0) in at:
            summary[f"{peer} over shoprec ItemKNN, one at a time p50"] = round(
                at[(peer, 0.0)]["p50_ms"] / at[("shoprec", 0.0)]["p50_ms"], 2
            )
        peer_best = best_rate(rows, peer, 50.0)
        ours = best_rate(rows, "shoprec", 50.0)
        if peer_best and ours:
            summary[f"shoprec ItemKNN over {peer}, highest rps with p99 < 50 ms"] = round(
                ours / peer_best, 2
            )
    summary["targets"] = targets
    return summary


def request_paths(user_ids: np.ndarray, n: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    users = [str(u) for u in rng.choice(user_ids, n)]
    unknown = rng.random(n) < 0.1
    return [
        f"/v1/recommendations/{'new-visitor-' + str(i) if unknown[i] else u}?k=10"
        for i, u in enumerate(users)
    ]


def tree_memory_mib(pid: int) -> dict[str, float]:
    """Resident (RSS) and proportional (PSS: shared pages split among their users) memory of a
    process and all its descendants, MiB. PSS is what the service costs the machine."""
    pids, frontier = [pid], [pid]
    while frontier:
        children = Path(f"/proc/{frontier.pop()}/task")
        for task in children.glob("*/children") if children.exists() else []:
            found = [int(c) for c in task.read_text().split()]
            pids += found
            frontier += found
    total = {"rss_mib": 0.0, "pss_mib": 0.0}
    for p in pids:
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key = {"Rss:": "rss_mib", "Pss:": "pss_mib"}.get(line.split()[0])
            if key:
                total[key] += int(line.split()[1]) / 1024
    return {k: round(v, 1) for k, v in total.items()}


def served_equals_offline(base: str, model, n: int, k: int = 10, seed: int = 11) -> dict:
    """For ``n`` sampled known users: is the served top-``k`` (over HTTP) the offline
    ``recommend()`` top-``k`` of the same model folder?"""
    import httpx

    rng = np.random.default_rng(seed)
    users = rng.choice(model.history.user_ids, min(n, len(model.history.user_ids)), replace=False)
    offline = model.recommend([str(u) for u in users], k=k)
    expected = offline.groupby("user_id", sort=False)["item_id"].agg(list).to_dict()
    same = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        for user in users:
            body = client.get(f"/v1/recommendations/{user}", params={"k": k}).json()
            same += [i["item_id"] for i in body["items"]] == expected.get(str(user), [])
    return {"users": len(users), "k": k, "identical_lists": int(same)}


def shoprec_cmd(registry: Path, name: str, items: Path | None, params: Path, workers: int):
    cmd = [sys.executable, "-m", "shoprec", "serve", "--registry", str(registry)]
    cmd += ["--model", name, "--params", str(params), "--workers", str(workers)]
    return cmd + (["--items", str(items)] if items else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--rates", default="2,10,50,100,200,400,500,600,800")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--two-stage",
        type=Path,
        default=None,
        help="a two-stage model folder (e.g. from benchmarks/two_stage_shop.py) with "
        "items.parquet beside it",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    console = Console(width=160)
    work = Path(tempfile.mkdtemp(prefix="shoprec-serving-bench-"))
    params = work / "params.yaml"  # the repository's, without TF Serving models (not measured)
    settings = yaml.safe_load((ROOT / "params.yaml").read_text())
    settings["serving"]["savedmodels"] = {}
    params.write_text(yaml.safe_dump(settings))

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
    item_args = ["--model-dir", str(model_dir), "--items", str(items_path)]
    services = [
        ("shoprec", shoprec_cmd(work / "registry", NAME, items_path, params, 1), paths),
        ("shoprec 2 workers", shoprec_cmd(work / "registry", NAME, items_path, params, 2), paths),
        (
            "naive",
            [sys.executable, str(ROOT / "benchmarks" / "naive_service.py"), *item_args],
            paths,
        ),
        (
            "implicit item-kNN",
            [sys.executable, str(BENCH / "implicit_service.py"), *item_args],
            paths,
        ),
    ]
    two_stage, lists_s = None, None
    if args.two_stage:
        from shoprec.training.model_table import load_model

        # the lists a service builds at load, built once here (timed) and registered with
        # the model, so neither measured service start waits for them
        ts_dir = work / "two_stage"
        shutil.copytree(args.two_stage, ts_dir)
        two_stage = load_model(ts_dir)
        started = time.perf_counter()
        PrecomputedLists.build(two_stage, 100, 20).save(ts_dir / LISTS_DIR)
        lists_s = round(time.perf_counter() - started, 1)
        console.print(f"two-stage lists for {two_stage.history.shape[0]:,} users: {lists_s} s")
        ts_registry = work / "registry-two-stage"
        publish(Registry(LocalStore(ts_registry)), "two_stage", ts_dir)
        ts_items = args.two_stage.parent / "items.parquet"
        ts_paths = request_paths(two_stage.history.user_ids, 2000)
        for workers in (1, 2):
            label = "shoprec two_stage" + (f" {workers} workers" if workers > 1 else "")
            cmd = shoprec_cmd(
                ts_registry, "two_stage", ts_items if ts_items.exists() else None, params, workers
            )
            services.append((label, cmd, ts_paths))

    rows, memory, quality = [], {}, {}
    for n, (label, cmd, service_paths) in enumerate(services):
        port = 18000 + 10 * n + int(os.getpid() % 1000)
        load_started = time.perf_counter()
        proc = start([*cmd, "--port", str(port)], port)
        base = f"http://127.0.0.1:{port}"
        if "workers" in label:  # every worker has loaded (each reports its version)
            wait_for_workers(base, int(label.split()[-2]))
        ready_s = round(time.perf_counter() - load_started, 1)
        try:
            rows += measure(label, base, service_paths, rates, args.seconds, console)
            memory[label] = {**tree_memory_mib(proc.pid), "ready_seconds": ready_s}
            console.print(label, memory[label])
            if label == "shoprec two_stage":
                quality[label] = served_equals_offline(base, two_stage, 1000)
                console.print(quality[label])
        finally:
            proc.terminate()
            proc.wait(timeout=60)

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
    summary = summarise(rows, memory)
    console.print(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": machine_info(),
                "catalogue": {
                    "items": args.items,
                    "users": args.users,
                    "interactions": int(history.matrix.nnz),
                },
                "two_stage_catalogue": (
                    {
                        "items": int(two_stage.history.shape[1]),
                        "users": int(two_stage.history.shape[0]),
                        "interactions": int(two_stage.history.matrix.nnz),
                    }
                    if two_stage is not None
                    else None
                ),
                "model": NAME,
                "fit_seconds": round(fit_s, 1),
                "two_stage_lists_seconds": lists_s,
                "seconds_per_rate": args.seconds,
                "rows": rows,
                "memory": memory,
                "served_equals_offline": quality,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {args.out}")


def wait_for_workers(base: str, workers: int, seconds: float = 600) -> None:
    import re
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        if len(re.findall(r"shoprec_model_version\{", text)) >= workers:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{workers} workers did not all load the model")


if __name__ == "__main__":
    main()
