"""The two-tower model beside the baselines: quality, cold items and training throughput.

Same protocol as the pipeline (validation → temporal split → fit before the test period →
full ranking over the whole catalogue, 95% bootstrap intervals over users). Also reports
Recall@20 on the test targets that are items with no interaction before the test period
("cold items": only a model that reads content can reach them) and the two-tower training
throughput in examples/second on the device TensorFlow used.

    python benchmarks/retrieval.py --dataset synthetic
    python benchmarks/retrieval.py --dataset online_retail
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shoprec.config import load_params
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import BASELINES, create_model
from shoprec.training.two_tower import fit_two_tower

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATASETS, ONLINE_RETAIL, load_validated
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="synthetic")
    parser.add_argument("--path", type=Path, default=ONLINE_RETAIL, help="Online Retail file")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    params = load_params(ROOT / "params.yaml")
    console = Console(width=200)
    events, items, counts = load_validated(args.dataset, params, args.path)
    e, t = params.evaluation, params.targets
    holdout = prepare_holdout(events, items, params.split, params.features, t)
    inputs = TrainingInputs.from_holdout(holdout, items, t, params.features.event_weights)
    history, targets = holdout.history, holdout.targets
    console.print(
        f"{args.dataset}: {len(events):,} events; history {history.shape[0]:,} users × "
        f"{history.shape[1]:,} items; {len(targets.user_rows):,} test users, "
        f"{targets.info['target_pairs_on_new_items']:,} targets on items new in the test period"
    )
    rows, training = [], {}
    models = {}
    for name in BASELINES:
        started = time.perf_counter()
        models[name] = create_model(name, **getattr(params.models, name).model_dump()).fit(history)
        rows.append({"model": name, "fit_seconds": round(time.perf_counter() - started, 2)})
    started = time.perf_counter()
    models["two_tower"], training, _ = fit_two_tower(inputs, params.models.two_tower)
    rows.append({"model": "two_tower", "fit_seconds": round(time.perf_counter() - started, 2)})
    for row in rows:
        result = evaluate_model(
            models[row["model"]], targets, e.ks, bootstrap_samples=args.bootstrap
        )
        row["metrics"] = {k: round(v, 5) for k, v in result.values.items()}
        row["intervals"] = {
            k: [round(lo, 5), round(hi, 5)] for k, (lo, hi) in result.intervals.items()
        }
        row["cold_items"] = {k: round(v, 5) for k, v in result.cold_items.items()}

    first = training["first_fit"]
    table = Table(title=f"Retrieval on {args.dataset} (full ranking, 95% bootstrap intervals)")
    for column in ("model", "NDCG@10", "Recall@20", "cold-item Recall@20", "fit s"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for row in rows:
        m, ci, cold = row["metrics"], row["intervals"], row["cold_items"]
        table.add_row(
            row["model"],
            f"{m['ndcg@10']:.4f} ({ci['ndcg@10'][0]:.3f}–{ci['ndcg@10'][1]:.3f})",
            f"{m['recall@20']:.4f} ({ci['recall@20'][0]:.3f}–{ci['recall@20'][1]:.3f})",
            f"{cold.get('recall@20', 0.0):.4f} ({cold.get('users', 0)} users)",
            f"{row['fit_seconds']:.1f}",
        )
    console.print(table)
    by_name = {r["model"]: r for r in rows}
    tt, ease = by_name["two_tower"]["metrics"]["ndcg@10"], by_name["ease"]["metrics"]["ndcg@10"]
    verdict = "beats" if tt > ease else "does NOT beat"
    console.print(
        f"two-tower {verdict} EASE on NDCG@10 ({tt:.4f} vs {ease:.4f}); training on "
        f"{first.get('device')} at {first.get('examples_per_second', 0):,.0f} examples/s "
        f"(mixed precision: {first.get('mixed_precision')}); {training['epochs_used']} epochs "
        f"after early stopping"
    )
    out = ROOT / "benchmarks/results" / f"retrieval_{args.dataset}.json"
    payload = {
        "benchmark": "retrieval",
        "dataset": args.dataset,
        "machine": machine_info(),
        "validation": counts,
        "evaluation": targets.info,
        "results": rows,
        "two_tower_training": training,
    }
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
