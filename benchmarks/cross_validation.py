"""Rolling-origin cross-validation of every shoprec model on a dataset (default: Online Retail).

The same library call as the DVC stages ``cv_fold@k`` and ``cv``
(``shoprec.stages.cv_fold.score_fold``, ``shoprec.stages.cv.summarise``): the validated data,
the pipeline's ``params.yaml`` (``train:`` decides the models: by default the baselines, the
sequential and the two-stage model), a temporal split whose validation and test windows slide
back by k · ``--step-days`` for fold k = 0 … ``--folds`` − 1; every model is fit anew on the data
before the fold's cuts and scored on the fold's test window. Nothing is tuned on a test window.

Prints, per fold and model, NDCG@10, Recall@20 and HitRate@10 with each model's fit time and
the fold's time; the spread per model across folds (mean ± std with ddof 1, and the minimum);
per fold the best baseline by NDCG@10 and the two-stage model's lift over it; and whether the
two-stage model wins every fold. Writes ``benchmarks/results/cross_validation_<dataset>.json``.

    python benchmarks/cross_validation.py                        # 3 folds, 14 days apart
    python benchmarks/cross_validation.py --folds 4 --step-days 7
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shoprec.config import Params, load_params
from shoprec.stages.cv import summarise
from shoprec.stages.cv_fold import score_fold
from shoprec.training.model_table import BASELINES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATASETS, ONLINE_RETAIL, load_validated
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
SHOWN = ("ndcg@10", "recall@20", "hitrate@10")
CANDIDATE = "two_stage"
GATE_METRIC = "ndcg@10"


def _fold_params(params: Params, folds: int, step_days: int) -> Params:
    """``params`` with ``evaluation.cv`` set to folds 0 … folds-1, ``step_days`` apart."""
    cv = params.evaluation.cv.model_copy(
        update={"folds": list(range(folds)), "step_days": step_days}
    )
    evaluation = params.evaluation.model_copy(update={"cv": cv})
    return params.model_copy(update={"evaluation": evaluation})


def _last_day(test_end: str) -> str:
    """The last day of a window whose end is the (exclusive) start of the next day."""
    return (pd.Timestamp(test_end) - pd.Timedelta(days=1)).date().isoformat()


def _comparison(fold: dict) -> dict:
    """The fold's best baseline by NDCG@10 and whether the two-stage model beats it."""
    models = fold["models"]
    baselines = {n: models[n]["metrics"][GATE_METRIC] for n in BASELINES if n in models}
    if CANDIDATE not in models or not baselines:
        return {}
    best = max(baselines, key=baselines.get)
    ours, theirs = models[CANDIDATE]["metrics"][GATE_METRIC], baselines[best]
    return {
        "metric": GATE_METRIC,
        "best_baseline": best,
        "best_baseline_value": theirs,
        "two_stage_value": ours,
        "lift": round(ours / theirs - 1, 6) if theirs > 0 else None,
        "two_stage_wins": ours > theirs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="online_retail")
    parser.add_argument("--path", type=Path, default=ONLINE_RETAIL, help="Online Retail file")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--folds", type=int, default=3, help="folds 0 … N-1 (default 3)")
    parser.add_argument(
        "--step-days", type=int, default=None, help="default: evaluation.cv.step_days"
    )
    args = parser.parse_args()
    if args.folds < 1:
        raise SystemExit("--folds: at least 1")
    console = Console(width=200)
    handler = RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S")
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s")
    logging.getLogger("shoprec").setLevel(logging.INFO)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    started = time.perf_counter()
    base = load_params(args.params)
    step_days = args.step_days or base.evaluation.cv.step_days
    params = _fold_params(base, args.folds, step_days)
    if params.split.strategy != "temporal":
        console.print(f"note: split.strategy is {params.split.strategy!r}, not temporal")
    with console.status(f"loading and validating {args.dataset}…"):
        events, items, counts = load_validated(args.dataset, params, args.path)
    load_seconds = time.perf_counter() - started
    models = params.train.evaluated()
    console.print(
        f"{args.dataset}: {len(events):,} validated events, {len(items):,} items, loaded in "
        f"{load_seconds:.1f} s; {args.folds} folds {step_days} days apart "
        f"({params.split.strategy} split); models: {', '.join(models)}"
    )

    folds: dict[int, dict] = {}
    records = []
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} folds"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("cross-validation", total=args.folds)
        for k in range(args.folds):
            progress.update(task, description=f"fold {k}")
            scored = score_fold(events, items, params, k)
            result = scored.result
            folds[k] = result
            record = {
                "fold": k,
                "window": result["window"],
                "events": result["events"],
                "catalogue_items": result["catalogue_items"],
                "test_users": result["targets"]["evaluated_users"],
                "targets": result["targets"],
                "models": {
                    name: {
                        "metrics": scored_model["metrics"],
                        "intervals": {m: scored_model["intervals"][m] for m in SHOWN},
                        "cold_items": scored_model["cold_items"],
                        "fit_seconds": scored.fit_seconds.get(name),
                    }
                    for name, scored_model in result["models"].items()
                },
                "fold_seconds": scored.seconds,
            }
            record["comparison"] = _comparison(record)
            records.append(record)
            line = ", ".join(
                f"{n} {m['metrics']['ndcg@10']:.4f}" for n, m in record["models"].items()
            )
            progress.console.print(
                f"fold {k} done in {scored.seconds:.1f} s: NDCG@10 {line}", highlight=False
            )
            progress.advance(task)
    total_seconds = time.perf_counter() - started

    # -- per fold and model
    per_fold = Table(
        title=f"{args.dataset}: {args.folds} temporal folds, {step_days} days apart "
        "(every model fit anew per fold)"
    )
    for column, justify in (
        ("fold", "right"),
        ("test window", "left"),
        ("test users", "right"),
        ("model", "left"),
        *((m, "right") for m in SHOWN),
        ("fit s", "right"),
        ("fold s", "right"),
    ):
        per_fold.add_column(column, justify=justify, no_wrap=True)
    for record in records:
        w = record["window"]
        best = {m: max(r["metrics"][m] for r in record["models"].values()) for m in SHOWN}
        for i, (name, r) in enumerate(record["models"].items()):
            cells = []
            for m in SHOWN:
                text = f"{r['metrics'][m]:.4f}"
                cells.append(f"[bold]{text}[/bold]" if r["metrics"][m] == best[m] else text)
            first = i == 0
            per_fold.add_row(
                str(record["fold"]) if first else "",
                f"{w['test_start'][:10]} – {_last_day(w['test_end'])}" if first else "",
                f"{record['test_users']:,}" if first else "",
                name,
                *cells,
                f"{r['fit_seconds']:.1f}" if r["fit_seconds"] is not None else "",
                f"{record['fold_seconds']:.1f}" if first else "",
            )
        per_fold.add_section()
    console.print(per_fold)

    # -- spread across folds
    summary = summarise(folds)
    fit_totals = {
        name: round(sum(r["models"][name]["fit_seconds"] or 0.0 for r in records), 2)
        for name in summary
    }
    spread = Table(title=f"spread across {args.folds} folds: mean ± std (ddof 1), min")
    spread.add_column("model")
    for m in SHOWN:
        spread.add_column(f"{m} mean ± std", justify="right", no_wrap=True)
        spread.add_column("min", justify="right")
    spread.add_column("fit s / fold", justify="right")
    spread.add_column("fit s total", justify="right")
    for name, metrics in summary.items():
        cells = []
        for m in SHOWN:
            s = metrics[m]
            cells += [f"{s['mean']:.4f} ± {s['std']:.4f}", f"{s['min']:.4f}"]
        spread.add_row(
            name, *cells, f"{fit_totals[name] / args.folds:.1f}", f"{fit_totals[name]:.1f}"
        )
    console.print(spread)

    # -- the two-stage model against each fold's best baseline
    compared = [r for r in records if r["comparison"]]
    verdict: dict = {"model": CANDIDATE, "metric": GATE_METRIC, "against": "best baseline"}
    if compared:
        wins = sum(r["comparison"]["two_stage_wins"] for r in compared)
        verdict.update(folds_won=wins, folds=len(compared), wins_every_fold=wins == len(compared))
        versus = Table(title=f"{CANDIDATE} against the fold's best baseline ({GATE_METRIC})")
        for column in ("fold", "best baseline", GATE_METRIC, CANDIDATE, "lift", "wins"):
            versus.add_column(column, justify="left" if column == "best baseline" else "right")
        for r in compared:
            c = r["comparison"]
            lift = "" if c["lift"] is None else f"{c['lift'] * 100:+.1f}%"
            versus.add_row(
                str(r["fold"]),
                c["best_baseline"],
                f"{c['best_baseline_value']:.4f}",
                f"{c['two_stage_value']:.4f}",
                lift,
                "yes" if c["two_stage_wins"] else "[bold red]no[/bold red]",
            )
        console.print(versus)
        console.print(
            f"[bold]two-stage wins every fold: {'yes' if verdict['wins_every_fold'] else 'no'} "
            f"({wins} of {len(compared)})[/bold]"
        )
    else:
        verdict["note"] = f"{CANDIDATE} or every baseline is switched off in train:"
        console.print(f"no verdict: {verdict['note']}")
    folds_seconds = sum(r["fold_seconds"] for r in records)
    each = ", ".join(f"fold {r['fold']} {r['fold_seconds']:.1f} s" for r in records)
    console.print(
        f"time: {each}; "
        f"folds {folds_seconds:.1f} s ({folds_seconds / args.folds:.1f} s per fold), total "
        f"{total_seconds:.1f} s with loading and validation ({load_seconds:.1f} s)"
    )

    out = ROOT / "benchmarks/results" / f"cross_validation_{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "cross_validation",
        "dataset": args.dataset,
        "machine": machine_info(),
        "validation": counts,
        "params": os.path.relpath(args.params.resolve(), ROOT),
        "protocol": {
            "split": params.split.strategy,
            "folds": params.evaluation.cv.folds,
            "step_days": step_days,
            "test_days": params.split.test_days,
            "validation_days": params.split.validation_days,
            "ks": sorted(set(params.evaluation.ks)),
            "bootstrap_samples": params.evaluation.bootstrap.samples,
            "models": models,
            "baselines": [n for n in BASELINES if n in models],
        },
        "params_used": params.model_dump(
            mode="json", include={"split", "features", "train", "models", "targets", "evaluation"}
        ),
        "folds": records,
        "summary": summary,
        "verdict": verdict,
        "seconds": {
            "load_and_validate": round(load_seconds, 2),
            "folds": round(folds_seconds, 2),
            "per_fold": {str(r["fold"]): r["fold_seconds"] for r in records},
            "fit_total_per_model": fit_totals,
            "total": round(total_seconds, 2),
        },
    }
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
