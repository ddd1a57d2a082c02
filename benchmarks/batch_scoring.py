"""Batch scoring at 100k users: the chunked, resumable writer against one big table.

Builds a synthetic history (100k users, ~20 interactions each over 20k items, skewed item
popularity), fits ItemKNN once and saves it, then runs each variant in a child process of its
own so that peak RSS (``ru_maxrss``) belongs to that variant alone:

- ``chunked``: ``shoprec.batch_scoring.score.score_to_parquet`` into a fresh folder;
- ``one_table``: ``model.recommend(all users, k)`` as one pandas table, then ``to_parquet``;
- ``resume``: the chunked writer killed (SIGKILL) once half of the parts exist, then run again
  on the same folder: the rerun should take about half the time.

Seconds are measured inside the child around the scoring call (not the imports or the model
load). Prints a table and writes ``benchmarks/results/batch_scoring.json``.

    python benchmarks/batch_scoring.py                 # 100k users × 20k items, k=20
    python benchmarks/batch_scoring.py --users 20000   # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` rather than ``ru_maxrss``: a child's
    ``ru_maxrss`` starts from its parent's peak (it survives fork + exec), ``VmHWM`` does not."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # elsewhere


def synthetic_history(users: int, items: int, per_user: int, seed: int = 0):
    """A user × item matrix with ~``per_user`` distinct items a user, Zipf-like popularity."""
    from shoprec.features.interactions import Interactions

    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    cols = rng.choice(items, size=users * per_user, p=popularity / popularity.sum())
    rows = np.repeat(np.arange(users), per_user)
    values = rng.choice(np.log1p([1.0, 3.0, 5.0]), size=rows.size, p=[0.8, 0.15, 0.05])
    matrix = sp.csr_matrix((values.astype(np.float32), (rows, cols)), shape=(users, items))
    matrix.sum_duplicates()
    return Interactions(
        matrix=matrix,
        user_ids=np.array([f"u{u:07d}" for u in range(users)]),
        item_ids=np.array([f"i{i:06d}" for i in range(items)]),
    )


def child(variant: str, model_dir: str, output: str, k: int, chunk_size: int) -> None:
    """Run one variant in this (fresh) process and print its numbers as JSON."""
    from shoprec.batch_scoring.score import score_to_parquet
    from shoprec.training.model_table import load_model

    started = time.perf_counter()
    model = load_model(model_dir)
    users = model.history.user_ids
    loaded = {
        "load_seconds": round(time.perf_counter() - started, 2),
        "rss_loaded_mb": peak_rss_mb(),
    }
    started = time.perf_counter()
    if variant == "one_table":
        table = model.recommend(users, k)
        Path(output).mkdir(parents=True, exist_ok=True)
        table.to_parquet(Path(output) / "recommendations.parquet", index=False)
        extra = {"rows": len(table)}
    else:
        result = score_to_parquet(model, users, output, k, chunk_size, "itemknn", None)
        counts = ("rows", "chunks_written", "chunks_skipped")
        extra = {name: getattr(result, name) for name in counts}
    seconds = time.perf_counter() - started
    out = Path(output)
    print(
        json.dumps(
            {
                **loaded,
                **extra,
                "seconds": round(seconds, 2),
                "users_per_second": round(len(users) / seconds),
                "peak_rss_mb": peak_rss_mb(),
                "output_mb": round(sum(p.stat().st_size for p in out.iterdir()) / 2**20, 1),
            }
        )
    )


def run_child(variant: str, model_dir: Path, output: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--model", str(model_dir)]
    cmd += ["--output", str(output), "--k", str(args.k), "--chunk-size", str(args.chunk_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def killed_half_way(model_dir: Path, output: Path, args, n_chunks: int) -> int:
    """Start the chunked writer and SIGKILL it once half of its parts exist."""
    cmd = [sys.executable, __file__, "--child", "chunked", "--model", str(model_dir)]
    cmd += ["--output", str(output), "--k", str(args.k), "--chunk-size", str(args.chunk_size)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(output.glob("part-*.parquet"))) < n_chunks // 2:
        if proc.poll() is not None:
            raise SystemExit("the chunked writer ended before it could be killed")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(list(output.glob("part-*.parquet")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--per-user", type=int, default=20)
    parser.add_argument("--neighbors", type=int, default=100)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--child", choices=("chunked", "one_table"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.output, args.k, args.chunk_size)
        return

    from shoprec.training.model_table import create_model

    console = Console(width=200)
    work = Path(tempfile.mkdtemp(prefix="shoprec-bench-batch-"))
    try:
        t0 = time.perf_counter()
        history = synthetic_history(args.users, args.items, args.per_user)
        model = create_model("itemknn", neighbors=args.neighbors).fit(history)
        model.save(work / "model")
        fit_s = round(time.perf_counter() - t0, 1)
        n_chunks = -(-args.users // args.chunk_size)
        console.print(
            f"history {args.users:,} users × {args.items:,} items, {history.matrix.nnz:,} "
            f"interactions; ItemKNN({args.neighbors}) built and fitted in {fit_s} s; "
            f"{n_chunks} parts of {args.chunk_size:,} users, k={args.k}"
        )
        del model, history
        results = {
            "chunked": run_child("chunked", work / "model", work / "chunked", args),
            "one_table": run_child("one_table", work / "model", work / "one_table", args),
        }
        kept = killed_half_way(work / "model", work / "resume", args, n_chunks)
        results["resume"] = {
            "parts_before_kill": kept,
            **run_child("chunked", work / "model", work / "resume", args),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"Batch scoring, {args.users:,} users, top-{args.k} (one process each)")
    for column in ("variant", "seconds", "users/s", "peak RSS MB", "RSS after load MB", "notes"):
        table.add_column(column, justify="left" if column in ("variant", "notes") else "right")
    notes = {
        "chunked": f"{n_chunks} parts written",
        "one_table": "one DataFrame, one Parquet file",
        "resume": f"killed after {results['resume']['parts_before_kill']} parts; rerun wrote "
        f"{results['resume']['chunks_written']}, skipped {results['resume']['chunks_skipped']}",
    }
    for variant, r in results.items():
        table.add_row(
            variant,
            f"{r['seconds']:.1f}",
            f"{r['users_per_second']:,}",
            f"{r['peak_rss_mb']:,.0f}",
            f"{r['rss_loaded_mb']:,.0f}",
            notes[variant],
        )
    console.print(table)
    payload = {
        "benchmark": "batch_scoring",
        "machine": machine_info(),
        "setup": {
            "users": args.users,
            "items": args.items,
            "interactions_per_user": args.per_user,
            "model": f"itemknn(neighbors={args.neighbors})",
            "k": args.k,
            "chunk_size": args.chunk_size,
            "fit_seconds": fit_s,
        },
        "results": results,
        "resume_vs_full": round(results["resume"]["seconds"] / results["chunked"]["seconds"], 2),
    }
    out = ROOT / "benchmarks/results/batch_scoring.json"
    out.write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
