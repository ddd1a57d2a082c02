"""Quality and speed of the three baselines on a dataset (default: the real Online Retail log).

Runs the same library code as the DVC stages (source → validation → temporal split →
features → fit → full-ranking evaluation with bootstrap intervals), timing each model's fit
and its top-K for every test user. Prints a table and writes
``benchmarks/results/baselines_<name>.json``.

    python benchmarks/baselines.py                       # ../shared/datasets/online_retail
    python benchmarks/baselines.py --dataset synthetic   # the default synthetic shop
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.table import Table

from shoprec.evaluation.evaluate import evaluate_ranking
from shoprec.training.model_table import BASELINES, create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import start_quality_run

ROOT = Path(__file__).resolve().parents[1]
SHOWN = ("ndcg@10", "recall@20", "precision@10", "hitrate@10", "coverage@10")


def main() -> None:
    run = start_quality_run("baselines", __doc__, default_dataset="online_retail")
    args, params, console, events = run.args, run.params, run.console, run.events
    e, t = params.evaluation, params.targets
    split, history, targets = run.holdout.split, run.holdout.history, run.holdout.targets
    k_max = max(e.ks)
    console.print(
        f"{args.dataset}: {len(events):,} events, history {history.shape[0]:,} users × "
        f"{history.shape[1]:,} items, {len(targets.user_rows):,} test users "
        f"({split.info['strategy']} split, test from "
        f"{split.info.get('test_start', 'per user')[:10]})"
    )

    rows = []
    for name in BASELINES:
        model = create_model(name, **getattr(params.models, name).model_dump())
        t0 = time.perf_counter()
        model.fit(history)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        recommended, _ = model.recommend_indices(targets.user_rows, k_max)
        recommend_s = time.perf_counter() - t0
        result = evaluate_ranking(
            recommended,
            targets,
            e.ks,
            history.item_user_counts(),
            history.shape[0],
            bootstrap_samples=args.bootstrap,
        )
        rows.append(
            {
                "model": name,
                "fit_seconds": round(fit_s, 3),
                "recommend_seconds": round(recommend_s, 3),
                "users_per_second": round(len(targets.user_rows) / recommend_s, 1),
                "metrics": {k: round(v, 5) for k, v in result.values.items()},
                "intervals": {
                    k: [round(lo, 5), round(hi, 5)] for k, (lo, hi) in result.intervals.items()
                },
            }
        )

    table = Table(title=f"Baselines on {args.dataset} (top-{k_max} over the whole catalogue)")
    table.add_column("model", style="bold")
    for column in SHOWN:
        table.add_column(column, justify="right", no_wrap=True)
    for column in ("fit s", f"top-{k_max} s", "users/s"):
        table.add_column(column, justify="right")
    for row in rows:
        cells = []
        for column in SHOWN:
            value, ci = row["metrics"][column], row["intervals"].get(column)
            cells.append(f"{value:.4f}" + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci else ""))
        table.add_row(
            row["model"],
            *cells,
            f"{row['fit_seconds']:.2f}",
            f"{row['recommend_seconds']:.2f}",
            f"{row['users_per_second']:,.0f}",
        )
    console.print(table)

    run.write(
        load_and_validate_seconds=round(run.load_seconds, 2),
        protocol={
            "split": split.info,
            "ks": e.ks,
            "relevant_event_types": t.relevant_event_types,
            "repeat_purchases": t.repeat_purchases,
            "bootstrap_samples": args.bootstrap,
        },
        results=rows,
    )


if __name__ == "__main__":
    main()
