"""Scale: the synthetic shop at growing sizes through ingest → validate → features → baselines →
ranker, with ``compute.engine: local`` and ``dask`` (a LocalCluster of 2 worker processes).

For each size a synthetic shop of about that many events is generated once (not timed; about
62 events per shopper over 56 days) and written as canonical Parquet files. Then, per engine, a
fresh project folder (params.yaml, expectations/, pipelines/) reads them with ``data.source:
files`` and each stage runs as its own process, exactly as ``dvc repro`` runs it
(``python pipelines/<stage>.py``), without DVC's hashing. Per stage: wall time and the peak
resident memory (RSS) of the stage's whole process tree, sampled every 0.2 s (Dask workers
included). The two-stage model runs with the ItemKNN, co-visitation and popularity sources (no
TensorFlow, no EASE: their cost does not depend on the engine).

Goal: time grows at most 1.2× as fast as the events (ratio of time ratio to events ratio
between consecutive sizes ≤ 1.2), and the largest size completes on the dask engine with a
peak under 16 GiB. A size or stage that fails (memory, time) is recorded as failed with its
error, not left out.

    python benchmarks/scale.py [--millions 1 5 20 50] [--engines local dask] [--timeout 3600]
                               [--keep] [--work DIR]

``--keep`` keeps the sizes already in the results file that this run does not measure, so a
long size can run on its own; every size records the commit it was measured at. ``--work``
keeps the generated shops in DIR, and a later run with the same DIR uses them again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info
from serving import tree_memory_mib

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
EVENTS_PER_USER = 62  # the synthetic shop at 56 days (measured: 249,885 events for 4,000 users)
STAGES = (
    ("ingest", []),
    ("validate", []),
    ("split", []),
    ("features", []),
    ("train", ["most_popular"]),
    ("train", ["itemknn"]),
    ("train_ranker", []),
)
GOAL_RATIO = 1.2
GOAL_PEAK_GIB = 16.0
GOAL_MILLIONS = 50  # the size the peak goal is set at


def shop_size(millions: float) -> dict[str, int]:
    users = int(millions * 1_000_000 / EVENTS_PER_USER)
    return {"users": users, "items": max(2000, min(100_000, users // 8)), "days": 56}


def generate(millions: float, folder: Path) -> dict:
    """The canonical files of one size, in a child process (its memory is freed after).

    A folder that already holds this size's files and their ``shop.json`` (from an earlier
    run with the same ``--work``) is used as it is: the generator is deterministic, and at
    50M it takes about an hour."""
    folder.mkdir(parents=True, exist_ok=True)
    size = shop_size(millions)
    done = folder / "shop.json"
    if done.exists() and json.loads(done.read_text()).get("users") == size["users"]:
        return {**json.loads(done.read_text()), "reused": True}
    code = (
        "import sys, json; from shoprec.data.synthetic import generate_shop; "
        f"e, i = generate_shop(users={size['users']}, items={size['items']}, "
        f"days={size['days']}, seed=42); "
        f"e.to_parquet('{folder}/events.parquet', index=False); "
        f"i.to_parquet('{folder}/items.parquet', index=False); "
        "print(json.dumps({'events': len(e), 'items': len(i)}))"
    )
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    shop = {**size, **counts, "generate_seconds": round(time.perf_counter() - started, 1)}
    done.write_text(json.dumps(shop) + "\n")  # only once both files are whole
    return shop


def make_project(folder: Path, data: Path, engine: str) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in ("pipelines", "expectations"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = {
        "source": "files",
        "events": str(data / "events.parquet"),
        "items": str(data / "items.parquet"),
    }
    params["train"].update(models=["most_popular", "itemknn"], two_tower=False, sequential=False)
    candidates = params["models"]["two_stage"].setdefault("candidates", {})
    candidates.update(two_tower=0, sequential=0, ease=0)
    params["compute"] = {**params.get("compute", {}), "engine": engine, "n_workers": 2}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return folder


def run_stage(project: Path, stage: str, args: list[str], timeout: float) -> dict:
    """One stage as its own process tree: wall time, peak RSS and PSS of the tree."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, f"pipelines/{stage}.py", *args],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = {"rss_mib": 0.0, "pss_mib": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now = tree_memory_mib(proc.pid)
            for key in peak:
                peak[key] = max(peak[key], now[key])
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, err = proc.communicate(timeout=timeout)
        error = None if proc.returncode == 0 else (err.strip().splitlines() or ["failed"])[-1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        error = f"timed out after {timeout:.0f} s"
    done.set()
    sampler.join()
    return {
        "stage": " ".join([stage, *args]),
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(peak["rss_mib"]),
        "peak_pss_mib": round(peak["pss_mib"]),
        "error": error,
    }


def run_size(
    millions: float,
    engines: list[str],
    work: Path,
    timeout: float,
    keep_input: bool,
    save: Callable[[dict], None],
) -> dict:
    """One size on each engine; ``save`` gets the size's record after every stage, so an
    interrupted run still leaves the stages it finished (``completed`` false until all are)."""
    data = work / f"{millions:g}M" / "input"
    try:
        shop = generate(millions, data)
    except RuntimeError as exc:
        return {"millions": millions, "error": f"generating the shop: {exc}", "engines": {}}
    out = {"millions": millions, "commit": commit(), "shop": shop, "engines": {}}
    for engine in engines:
        project = make_project(work / f"{millions:g}M" / engine, data, engine)
        rows: list[dict] = []
        for stage, args in STAGES:
            row = run_stage(project, stage, args, timeout)
            rows.append(row)
            print(
                f"  {millions:g}M {engine:5} {row['stage']:22} {row['seconds']:8.1f} s "
                f"{row['peak_rss_mib']:7,} MiB {row['error'] or ''}",
                flush=True,
            )
            out["engines"][engine] = {
                "stages": rows,
                "seconds": round(sum(r["seconds"] for r in rows), 1),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in rows),
                "completed": all(r["error"] is None for r in rows) and len(rows) == len(STAGES),
            }
            save(out)
            if row["error"]:
                break
        shutil.rmtree(project, ignore_errors=True)
    if not keep_input:
        shutil.rmtree(data, ignore_errors=True)
    return out


def scaling(sizes: list[dict], engine: str) -> list[dict]:
    """Time ratio over events ratio between consecutive completed sizes (1.0: linear). Two
    sizes measured at different commits are not a scaling figure (the code between them
    changed): their ratio is shown, the goal is not judged (``goal_met`` null)."""
    done = [s for s in sizes if s.get("engines", {}).get(engine, {}).get("completed")]
    out = []
    for a, b in itertools.pairwise(done):
        events = b["shop"]["events"] / a["shop"]["events"]
        t = b["engines"][engine]["seconds"] / a["engines"][engine]["seconds"]
        same = a.get("commit") is not None and a.get("commit") == b.get("commit")
        out.append(
            {
                "from_millions": a["millions"],
                "to_millions": b["millions"],
                "events_ratio": round(events, 2),
                "time_ratio": round(t, 2),
                "time_over_events": round(t / events, 2),
                "same_commit": same,
                "goal_met": t / events <= GOAL_RATIO if same else None,
            }
        )
    return out


def kept_sizes(path: Path, measuring: list[float]) -> list[dict]:
    """The sizes of an earlier result file that this run does not measure again (each names
    the commit it was measured at)."""
    if not path.exists():
        return []
    sizes = json.loads(path.read_text()).get("sizes", [])
    return [size for size in sizes if size["millions"] not in measuring]


def commit() -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() + ("+changes" if dirty.returncode else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--millions", type=float, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--engines", nargs="+", default=["local", "dask"])
    parser.add_argument("--timeout", type=float, default=3600.0, help="per stage, seconds")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="scratch folder; its generated shops are kept and used again by later runs",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the sizes of --out that this run does not measure (a long size run apart)",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="shoprec-scale-"))
    kept = kept_sizes(args.out, args.millions) if args.keep else []
    measured: list[dict] = []

    def save(current: dict | None = None) -> dict:
        sizes = sorted(
            kept + measured + ([current] if current else []), key=lambda s: s["millions"]
        )
        result = {
            "machine": machine_info(),
            "args": {"millions": args.millions, "engines": args.engines},
            "sizes": sizes,
            "scaling": {e: scaling(sizes, e) for e in args.engines},
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        return result

    for millions in args.millions:
        measured.append(
            run_size(
                millions,
                args.engines,
                work,
                args.timeout,
                keep_input=args.work is not None,
                save=save,
            )
        )
        result = save()  # after every size
    sizes = result["sizes"]
    largest = sizes[-1]
    result["summary"] = {
        "largest_millions": largest["millions"],
        "largest_completed_on_dask": largest.get("engines", {}).get("dask", {}).get("completed"),
        "largest_dask_peak_gib": round(
            largest.get("engines", {}).get("dask", {}).get("peak_rss_mib", 0) / 1024, 2
        ),
    }
    result["summary"]["goal_millions"] = GOAL_MILLIONS
    result["summary"]["peak_goal_met"] = bool(  # judged at the goal's size only
        largest["millions"] >= GOAL_MILLIONS
        and result["summary"]["largest_completed_on_dask"]
        and result["summary"]["largest_dask_peak_gib"] < GOAL_PEAK_GIB
    )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title="Pipeline time and peak memory by size and engine")
    for column in ("events", "engine", "stage", "seconds", "peak RSS MiB"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for size in sizes:
        if "shop" not in size:
            table.add_row(f"{size['millions']:g}M", "-", size["error"], "-", "-")
            continue
        for engine, e in size["engines"].items():
            for row in e["stages"]:
                table.add_row(
                    f"{size['shop']['events']:,}",
                    engine,
                    row["stage"] + (f" ({row['error']})" if row["error"] else ""),
                    f"{row['seconds']:.1f}",
                    f"{row['peak_rss_mib']:,}",
                )
            table.add_row("", engine, "[b]all[/b]", f"{e['seconds']:.1f}", f"{e['peak_rss_mib']:,}")
    console = Console()
    console.print(table)
    for engine, steps in result["scaling"].items():
        for s in steps:
            verdict = {True: "met", False: "NOT met", None: "not judged, different commits"}
            console.print(
                f"{engine}: {s['from_millions']:g}M → {s['to_millions']:g}M events ×"
                f"{s['events_ratio']}, time ×{s['time_ratio']} ({s['time_over_events']} of the "
                f"events ratio; goal ≤ {GOAL_RATIO}: {verdict[s['goal_met']]})"
            )
    console.print(json.dumps(result["summary"]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
