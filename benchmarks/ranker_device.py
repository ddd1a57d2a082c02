"""XGBoost ranker training on the CPU and, when one is present, on the GPU: same pairs, same
parameters, same number of rounds. Checks that ``device: auto`` picks the GPU when XGBoost can
use one, and that a booster trained on the GPU ranks the same way when loaded on a CPU.

Runs without TensorFlow (the two-tower source is left out) so that it also runs where only
XGBoost is installed. Prints a table and writes ``benchmarks/results/ranker_device_cpu.json``
(``_gpu.json`` where a GPU was used; or under ``--out``); ``--artifacts DIR`` also keeps each
booster and its predictions on a sample, to check on a CPU machine that they load and agree.

    python benchmarks/ranker_device.py                       # the default synthetic shop
    python benchmarks/ranker_device.py --users 20000 --items 5000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from rich.console import Console
from rich.table import Table

from shoprec.config import FeatureParams, Params, SplitParams, TargetParams, TwoStageParams
from shoprec.data.synthetic import generate_shop
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.ranking import ranker
from shoprec.ranking.pair_features import feature_names
from shoprec.training.inputs import TrainingInputs
from shoprec.training.two_stage import build_sources, fit_two_stage, graded_labels, training_pairs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=200, help="boosting rounds, no early stop")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    parser.add_argument(
        "--artifacts", type=Path, help="also save each booster and its predictions on a sample"
    )
    args = parser.parse_args()
    console = Console(width=160)

    defaults = Params()
    params = TwoStageParams(candidates={"two_tower": 0})
    targets, features = TargetParams(), FeatureParams()
    events, items = generate_shop(args.users, args.items, args.days, args.seed)
    holdout = prepare_holdout(events, items, SplitParams(), features, targets)
    inputs = TrainingInputs.from_holdout(holdout, items, targets, features.event_weights)
    t1 = pd.Timestamp(holdout.split.info["validation_start"])
    history = holdout.before_validation
    sources = build_sources(
        history,
        holdout.split.train,
        items,
        t1,
        params,
        defaults.models.itemknn,
        defaults.models.ease,
        features.event_weights,
        None,
    )
    labels = graded_labels(holdout.split.validation, history, params.label_grades, history.matrix)
    users = np.flatnonzero(np.diff(labels.indptr) > 0)
    x, y, qid, _ = training_pairs(sources, labels, labels, users, exclude_seen=True)
    keep = np.isin(qid, np.unique(qid[y > 0]))
    x, y, qid = x[keep], y[keep], qid[keep]
    names = feature_names(sources.snapshot.windows)
    console.print(
        f"{args.users:,} users × {args.items:,} items: {len(y):,} pairs, "
        f"{len(np.unique(qid)):,} query users, {len(names)} features; "
        f"XGBoost {xgb.__version__}, CUDA build {bool(xgb.build_info().get('USE_CUDA'))}, "
        f"GPU usable {ranker.cuda_available()}"
    )

    b = params.booster
    booster_params = b.model_dump(exclude={"eval_k", "num_boost_round", "early_stopping_rounds"})
    booster_params |= {"tree_method": "hist", "seed": 0, "eval_metric": f"ndcg@{b.eval_k}"}
    data = xgb.DMatrix(x, label=y, qid=qid, feature_names=names, missing=np.nan)
    timings, boosters = {}, {}
    devices = ["cpu"] + (["cuda"] if ranker.cuda_available() else [])
    for device in devices:
        xgb.train({**booster_params, "device": device}, data, num_boost_round=2)  # warm-up
        started = time.perf_counter()
        boosters[device] = xgb.train(
            {**booster_params, "device": device}, data, num_boost_round=args.rounds
        )
        timings[device] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    model, report = fit_two_stage(inputs, params, defaults.models.itemknn, defaults.models.ease)
    fit_seconds = round(time.perf_counter() - started, 2)
    quality = evaluate_model(model, holdout.targets, [10], bootstrap_samples=200)

    args.out.mkdir(parents=True, exist_ok=True)
    sample = x[: min(len(x), 5000)]
    agreement = {}
    if args.artifacts:
        args.artifacts.mkdir(parents=True, exist_ok=True)
        np.save(args.artifacts / "sample.npy", sample)
        for device, booster in boosters.items():
            booster.save_model(args.artifacts / f"ranker_{device}.ubj")
            predictions = ranker.predict(booster, sample, names)
            np.save(args.artifacts / f"predictions_{device}.npy", predictions)
    if "cuda" in boosters:
        a = ranker.predict(boosters["cpu"], sample, names)
        g = ranker.predict(boosters["cuda"], sample, names)
        agreement["spearman_cpu_vs_gpu"] = float(pd.Series(a).corr(pd.Series(g), method="spearman"))

    table = Table(title=f"XGBoost ranker training, {args.rounds} rounds, {len(y):,} pairs")
    for column in ("device", "seconds", "speed-up vs CPU"):
        table.add_column(column, justify="left" if column == "device" else "right")
    for device, seconds in timings.items():
        table.add_row(device, f"{seconds:.2f}", f"{timings['cpu'] / seconds:.1f}×")
    console.print(table)
    console.print(
        f"fit_two_stage with device: auto ran the ranker on {report['ranker']['device']} "
        f"({report['ranker']['best_rounds']} rounds) in {fit_seconds:.1f} s; test NDCG@10 "
        f"{quality.values['ndcg@10']:.4f}; {agreement}"
    )
    payload = {
        "benchmark": "ranker_device",
        "machine": machine_info(),
        "xgboost": xgb.__version__,
        "cuda_build": bool(xgb.build_info().get("USE_CUDA")),
        "gpu_usable": ranker.cuda_available(),
        "shop": {"users": args.users, "items": args.items, "days": args.days},
        "pairs": len(y),
        "features": len(names),
        "rounds": args.rounds,
        "training_seconds": timings,
        "auto_device": report["ranker"]["device"],
        "auto_fit_seconds": fit_seconds,
        "auto_best_rounds": report["ranker"]["best_rounds"],
        "test_ndcg@10": round(quality.values["ndcg@10"], 5),
        **agreement,
    }
    out = args.out / f"ranker_device_{'gpu' if 'cuda' in timings else 'cpu'}.json"
    out.write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
