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

import sys
import time
from pathlib import Path

from rich.table import Table

from shoprec.evaluation.evaluate import evaluate_model
from shoprec.training.model_table import BASELINES, create_model
from shoprec.training.two_tower import fit_two_tower

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import start_quality_run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    run = start_quality_run("retrieval", __doc__)
    args, params, console, events = run.args, run.params, run.console, run.events
    e = params.evaluation
    inputs = run.training_inputs()
    history, targets = run.holdout.history, run.holdout.targets
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
    run.write(results=rows, two_tower_training=training)


if __name__ == "__main__":
    main()
