"""Soak test: ``shoprec serve`` under steady load for minutes, hot-reloading a new version on a
schedule.

The synthetic catalogue of ``serving.py`` (100,000 items, 50,000 users) and two ItemKNN models
that differ (the second is fitted on the same history with 5% of its interactions left out) are
built; the first is registered and promoted in a temporary registry and ``shoprec serve`` is
started in a process group of its own, polling the alias every 2 s. This process is the load
generator: an open loop (requests are sent on schedule, whether or not earlier ones have
returned, with at most ``--max-in-flight`` outstanding) at ``--rps`` for ``--minutes``, 10% of
requests for unknown users. Every ``--promote-every`` seconds the other model is registered as
a new version, approved and promoted, so the service reloads under load. Every 5 s the memory of
the server's process tree (the server and all its descendants, e.g. ``--workers``) is read from
/proc/<pid>/smaps_rollup: the sum of RSS, and of PSS, which splits shared pages among the
processes that share them (so pages shared between workers count once).

Targets: zero failed requests (non-200, connection error or no answer within 10 s); memory
growth under 10% (max of the last minute's samples over the first sample after a 30 s warm-up,
for RSS and for PSS); at least two versions seen in the answers.

    python benchmarks/soak.py [--minutes 10] [--rps 100] [--promote-every 120] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from shoprec.features.interactions import Interactions
from shoprec.registry import LocalStore, Registry
from shoprec.training.model_table import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info
from serving import (
    publish,
    request_paths,
    shoprec_cmd,
    start,
    synthetic_shop,
    tree_memory_mib,
    wait_for_workers,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "soak.json"
NAME = "itemknn"
TIMEOUT_S = 10.0
SAMPLE_EVERY_S = 5.0
WARMUP_S = 30.0
# statuses recorded for requests that got no HTTP answer
NO_CONNECTION, TIMED_OUT, BAD_BODY = -1, -2, -3


def thinned(history: Interactions, fraction: float, seed: int = 11) -> Interactions:
    """The same users and items with ``fraction`` of the interactions left out at random."""
    coo = history.matrix.tocoo()
    keep = np.random.default_rng(seed).random(coo.nnz) >= fraction
    matrix = sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], coo.col[keep])), shape=history.matrix.shape
    )
    return Interactions(matrix, history.user_ids, history.item_ids)


# -- the soak -----------------------------------------------------------------------------------
class Soak:
    """Load, promotions and memory samples of one run; times are seconds from the start."""

    def __init__(self, args, base: str, paths: list[str], registry: Registry, models, proc):
        self.args, self.base, self.paths = args, base, paths
        self.registry, self.models, self.proc = registry, models, proc
        self.duration = args.minutes * 60
        self.requests: list[tuple[float, float, float, int, int | None]] = []  # sent, done, …
        self.promotions: list[dict] = []
        self.promotion_errors: list[str] = []
        self.samples: list[dict] = []
        self.variant_of: dict[int, str] = {}  # registry version -> model variant (a / b)
        self.done = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.t0 = loop.time()
        sampler = asyncio.create_task(self.sample_memory())
        promoter = asyncio.create_task(self.promote())
        try:
            await self.load()
        finally:
            self.done = True
            promoter.cancel()
            await asyncio.gather(sampler, promoter, return_exceptions=True)

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.t0

    async def load(self) -> None:
        """Open loop: request ``i`` is due at ``i / rps``; a request waits beyond its time only
        while ``--max-in-flight`` are outstanding."""
        rate = self.args.rps
        in_flight = asyncio.Semaphore(self.args.max_in_flight)
        tasks: set[asyncio.Task] = set()
        connector = aiohttp.TCPConnector(limit=256)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        async with aiohttp.ClientSession(self.base, connector=connector, timeout=timeout) as s:

            async def one(path: str) -> None:
                sent = self.now()
                started = time.perf_counter()
                version = None
                try:
                    async with s.get(path) as reply:
                        body = await reply.read()
                        status = reply.status
                    if status == 200:
                        try:
                            version = json.loads(body)["version"]
                        except (ValueError, KeyError, TypeError):
                            status = BAD_BODY
                except TimeoutError:
                    status = TIMED_OUT
                except (aiohttp.ClientError, OSError):
                    status = NO_CONNECTION
                finally:
                    in_flight.release()
                latency = time.perf_counter() - started
                self.requests.append((sent, self.now(), latency, status, version))

            i = 0
            while i / rate < self.duration:
                delay = i / rate - self.now()
                if delay > 0:
                    await asyncio.sleep(delay)
                await in_flight.acquire()
                task = asyncio.create_task(one(self.paths[i % len(self.paths)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            await asyncio.gather(*tasks)

    async def promote(self) -> None:
        """Every ``--promote-every`` s: register the other model, approve it, promote it."""
        self.variant_of[self.registry.alias(NAME)["version"]] = "a"
        k = 1
        while k * self.args.promote_every < self.duration:
            await asyncio.sleep(max(0.0, k * self.args.promote_every - self.now()))
            variant = "ab"[k % 2]
            started = self.now()
            try:
                await asyncio.to_thread(publish, self.registry, NAME, self.models[variant])
            except Exception as exc:  # noted, and the soak goes on with the version it serves
                self.promotion_errors.append(f"{started:.1f} s: {exc!r}")
                k += 1
                continue
            promoted = self.now()
            version = int(self.registry.alias(NAME)["version"])
            self.variant_of[version] = variant
            self.promotions.append(
                {
                    "version": version,
                    "variant": variant,
                    "registered_at_s": round(started, 2),
                    "promoted_at_s": round(promoted, 2),
                    "register_and_promote_s": round(promoted - started, 2),
                }
            )
            k += 1

    async def sample_memory(self) -> None:
        while not self.done:
            at = self.now()
            if self.proc.poll() is None:
                sample = await asyncio.to_thread(tree_memory_mib, self.proc.pid)
            else:  # the server is gone: nothing to measure
                sample = {"rss_mib": None, "pss_mib": None}
            self.samples.append({"t_s": round(at, 1), **sample})
            await asyncio.sleep(max(0.0, at + SAMPLE_EVERY_S - self.now()))

    # -- results -----------------------------------------------------------------------------
    def switch_times(self) -> None:
        """For each promotion: when the first answer of the new version came back, and the last
        answer of an earlier version (both from the moment the alias moved)."""
        for i, p in enumerate(self.promotions):
            until = (
                self.promotions[i + 1]["promoted_at_s"]
                if i + 1 < len(self.promotions)
                else float("inf")
            )
            new = [done for _, done, _, st, v in self.requests if st == 200 and v == p["version"]]
            old = [
                done
                for _, done, _, st, v in self.requests
                if st == 200 and v != p["version"] and p["promoted_at_s"] <= done < until
            ]
            first = min(new) if new else None
            p["first_answer_of_new_version_s"] = (
                round(first - p["promoted_at_s"], 2) if first is not None else None
            )
            p["last_answer_of_old_version_s"] = (
                round(max(old) - p["promoted_at_s"], 2) if old else 0.0
            )

    def per_minute(self) -> list[dict]:
        rows = []
        for minute in range(int(np.ceil(self.duration / 60))):
            start_s, end_s = minute * 60, (minute + 1) * 60
            got = [r for r in self.requests if start_s <= r[0] < end_s]
            latencies = np.array([r[2] for r in got]) * 1000
            memory = [s for s in self.samples if start_s <= s["t_s"] < end_s]
            rss = [s["rss_mib"] for s in memory if s["rss_mib"] is not None]
            pss = [s["pss_mib"] for s in memory if s["pss_mib"] is not None]
            rows.append(
                {
                    "minute": minute + 1,
                    "requests": len(got),
                    "failed": sum(r[3] != 200 for r in got),
                    "p50_ms": _percentile(latencies, 50),
                    "p99_ms": _percentile(latencies, 99),
                    "versions_seen": sorted({r[4] for r in got if r[3] == 200}),
                    "max_rss_mib": max(rss, default=None),
                    "max_pss_mib": max(pss, default=None),
                }
            )
        return rows

    def growth(self, key: str) -> dict:
        """(max of the last minute's samples − first sample after warm-up) / that sample."""
        warm = [s for s in self.samples if s["t_s"] >= WARMUP_S and s[key]]  # 0: unreadable
        if not warm:
            return {"baseline_mib": None, "last_minute_max_mib": None, "growth_pct": None}
        baseline = warm[0]
        last = [s[key] for s in warm if s["t_s"] >= self.duration - 60]
        peak = max(last) if last else None  # none: the server was gone by the last minute
        return {
            "baseline_at_s": baseline["t_s"],
            "baseline_mib": baseline[key],
            "last_minute_max_mib": peak,
            "growth_pct": (
                round((peak - baseline[key]) / baseline[key] * 100, 2) if peak is not None else None
            ),
        }

    def summary(self) -> dict:
        latencies = np.array([r[2] for r in self.requests]) * 1000
        failed = [r[3] for r in self.requests if r[3] != 200]
        versions = sorted({r[4] for r in self.requests if r[3] == 200})
        rss, pss = self.growth("rss_mib"), self.growth("pss_mib")
        growths = [g["growth_pct"] for g in (rss, pss)]
        last_sent = max((r[0] for r in self.requests), default=0.0)
        return {
            "requests": len(self.requests),
            "achieved_rps": round(len(self.requests) / max(last_sent, 1e-9), 1),
            "failed": len(failed),
            "failed_by_status": {str(k): v for k, v in sorted(collections.Counter(failed).items())},
            "p50_ms": _percentile(latencies, 50),
            "p95_ms": _percentile(latencies, 95),
            "p99_ms": _percentile(latencies, 99),
            "max_ms": round(float(latencies.max()), 2) if len(latencies) else None,
            "versions_seen": versions,
            "variants_seen": sorted({self.variant_of.get(v, "?") for v in versions}),
            "promotions": len(self.promotions),
            "promotion_errors": self.promotion_errors,
            "first_answer_of_new_version_s": [
                p["first_answer_of_new_version_s"] for p in self.promotions
            ],
            "rss": rss,
            "pss": pss,
            "target_zero_failures_met": len(self.requests) > 0 and not failed,
            "target_memory_growth_under_10_pct_met": None not in growths and max(growths) < 10.0,
            "target_two_versions_seen_met": len(versions) >= 2,
        }


def _percentile(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def drain(stream, tail: collections.deque) -> None:
    """Read the server's stderr so that its pipe never fills and blocks it; keep the tail."""
    for line in iter(stream.readline, b""):
        tail.append(line.decode(errors="replace").rstrip())


def stop(proc: subprocess.Popen) -> int | None:
    """SIGTERM to the server's process group, then wait (SIGKILL after 30 s)."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=30)
    except ProcessLookupError:
        return proc.wait(timeout=30)


def report(console: Console, soak: Soak, rows: list[dict], summary: dict) -> None:
    table = Table(title=f"soak: {soak.args.rps:g} rps open loop, k=10, 10% unknown users")
    for column in ("minute", "requests", "failed", "p50 ms", "p99 ms", "versions", "PSS MiB"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["minute"]),
            str(r["requests"]),
            str(r["failed"]),
            f"{r['p50_ms']:.1f}" if r["p50_ms"] is not None else "-",
            f"{r['p99_ms']:.1f}" if r["p99_ms"] is not None else "-",
            ",".join(map(str, r["versions_seen"])),
            f"{r['max_pss_mib']:.0f}" if r["max_pss_mib"] is not None else "-",
        )
    console.print(table)
    for p in soak.promotions:
        console.print(
            f"v{p['version']} ({p['variant']}) promoted at {p['promoted_at_s']:.1f} s "
            f"(register + promote {p['register_and_promote_s']:.2f} s); first answer after "
            f"{p['first_answer_of_new_version_s']} s, last old answer after "
            f"{p['last_answer_of_old_version_s']} s"
        )
    console.print(summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--promote-every", type=float, default=120.0, help="seconds")
    parser.add_argument("--workers", type=int, default=1, help="shoprec serve --workers")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--poll-interval", type=float, default=2.0, help="alias poll, seconds")
    parser.add_argument("--max-in-flight", type=int, default=2000)
    parser.add_argument("--port", type=int, default=18600 + os.getpid() % 1000)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    args = parser.parse_args()
    console = Console(width=160)
    work = Path(tempfile.mkdtemp(prefix="shoprec-soak-"))
    proc = None
    try:
        started = time.perf_counter()
        history, catalogue = synthetic_shop(args.users, args.items, per_user=20)
        models = {
            "a": create_model(NAME, neighbors=50).fit(history).save(work / "model-a"),
            "b": create_model(NAME, neighbors=50)
            .fit(thinned(history, 0.05))
            .save(work / "model-b"),
        }
        fit_s = time.perf_counter() - started
        console.print(
            f"catalogue {args.items:,} items, {args.users:,} users, {history.matrix.nnz:,} "
            f"interactions; two ItemKNN models fitted in {fit_s:.1f} s"
        )
        items_path = work / "items.parquet"
        catalogue.to_parquet(items_path)
        params_path = work / "params.yaml"
        params_path.write_text(f"serving:\n  poll_interval_s: {args.poll_interval}\n")
        registry = Registry(LocalStore(work / "registry"))
        publish(registry, NAME, models["a"])
        # setsid: a process group (and session) of its own, led by the server itself
        serve = shoprec_cmd(work / "registry", NAME, items_path, params_path, args.workers)
        proc = start(["setsid", *serve, "--port", str(args.port)], args.port)
        if os.getpgid(proc.pid) != proc.pid:
            raise RuntimeError("the server is not leading its own process group")
        stderr_tail: collections.deque = collections.deque(maxlen=40)
        threading.Thread(target=drain, args=(proc.stderr, stderr_tail), daemon=True).start()
        base = f"http://127.0.0.1:{args.port}"
        if args.workers > 1:
            wait_for_workers(base, args.workers)
        console.print(
            f"serving on port {args.port} (pid {proc.pid}, {args.workers} worker(s)); "
            f"{args.minutes:g} min at {args.rps:g} rps, a promotion every {args.promote_every:g} s"
        )

        paths = request_paths(history.user_ids, 10_000)
        soak = Soak(args, base, paths, registry, models, proc)
        asyncio.run(soak.run())
        exit_code = proc.poll()  # None: still serving; negative: killed by that signal
        soak.switch_times()
        rows = soak.per_minute()
        summary = {
            "server_alive_at_end": exit_code is None,
            "server_exit_code": exit_code,
            **soak.summary(),
        }
        report(console, soak, rows, summary)
        if stderr_tail and (summary["failed"] or exit_code is not None):
            console.print("server stderr (tail):", *stderr_tail, sep="\n")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "machine": machine_info(),
                    "args": {
                        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                    },
                    "catalogue": {
                        "items": args.items,
                        "users": args.users,
                        "interactions": int(history.matrix.nnz),
                    },
                    "model": NAME,
                    "fit_seconds": round(fit_s, 1),
                    "per_minute": rows,
                    "promotions": soak.promotions,
                    "memory_samples": soak.samples,
                    "summary": summary,
                    "server_stderr_tail": list(stderr_tail),
                },
                indent=2,
            )
            + "\n"
        )
        console.print(f"wrote {args.out}")
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
