"""The two-stage model (candidates + XGBoost ranker) against each single source and baseline.

Same protocol as the pipeline (validation → temporal split → fit before the test period → full
ranking over the whole catalogue, 95% bootstrap intervals over users). For each model: NDCG@10
and Recall@20 with intervals; for each candidate source: its recall at its N on the test
targets, and the recall of the union (the ceiling of the ranker). The two-stage model is also
compared with the best single model user by user: the lift in NDCG@10 with a paired bootstrap
interval of the difference.

    python benchmarks/ranking.py --dataset synthetic
    python benchmarks/ranking.py --dataset online_retail
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from shoprec.evaluation.bootstrap import bootstrap_ci
from shoprec.evaluation.evaluate import evaluate_ranking
from shoprec.evaluation.metrics import hits_matrix, user_metrics
from shoprec.ranking.candidates import mean_recall, per_user_recall
from shoprec.ranking.two_stage import SourceRecommender
from shoprec.training.model_table import BASELINES, create_model
from shoprec.training.two_stage import fit_two_stage
from shoprec.training.two_tower import fit_two_tower

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import start_quality_run

ROOT = Path(__file__).resolve().parents[1]
EXTRA_SOURCES = ("covisit", "popular_recent", "popular_category")


def _timed(func):
    started = time.perf_counter()
    result = func()
    return result, round(time.perf_counter() - started, 2)


def main() -> None:
    run = start_quality_run("ranking", __doc__)
    args, params, console, events = run.args, run.params, run.console, run.events
    e, t = params.evaluation, params.targets
    inputs = run.training_inputs()
    history, targets = run.holdout.history, run.holdout.targets
    console.print(
        f"{args.dataset}: {len(events):,} events; history {history.shape[0]:,} users × "
        f"{history.shape[1]:,} items; {len(targets.user_rows):,} test users"
    )

    models, fit_seconds = {}, {}
    for name in BASELINES:
        hyper = getattr(params.models, name).model_dump()
        models[name], fit_seconds[name] = _timed(
            lambda n=name, h=hyper: create_model(n, **h).fit(history)
        )
    with console.status("training the two-tower model…"):
        (two_tower, _, at_validation), fit_seconds["two_tower"] = _timed(
            lambda: fit_two_tower(inputs, params.models.two_tower)
        )
    models["two_tower"] = two_tower
    with console.status("training the two-stage model…"):
        (two_stage, report), fit_seconds["two_stage"] = _timed(
            lambda: fit_two_stage(
                inputs,
                params.models.two_stage,
                params.models.itemknn,
                params.models.ease,
                two_tower_at_validation=at_validation,
                two_tower_at_test=two_tower,
            )
        )
    models["two_stage"] = two_stage
    for source in EXTRA_SOURCES:
        if source in two_stage.sources.active:
            models[f"source:{source}"] = SourceRecommender(two_stage, source)

    k_max = max(e.ks)
    rows, per_user_ndcg = [], {}
    for name, model in models.items():
        (recommended, _), recommend_s = _timed(
            lambda m=model: m.recommend_indices(targets.user_rows, k_max, not t.repeat_purchases)
        )
        result = evaluate_ranking(
            recommended,
            targets,
            e.ks,
            history.item_user_counts(),
            history.shape[0],
            bootstrap_samples=args.bootstrap,
        )
        hits = hits_matrix(recommended, targets.targets)
        per_user_ndcg[name] = user_metrics(hits, np.diff(targets.targets.indptr), [10])["ndcg@10"]
        rows.append(
            {
                "model": name,
                "fit_seconds": fit_seconds.get(name),
                "recommend_seconds": recommend_s,
                "metrics": {k: round(v, 5) for k, v in result.values.items()},
                "intervals": {
                    k: [round(lo, 5), round(hi, 5)] for k, (lo, hi) in result.intervals.items()
                },
            }
        )

    candidates = two_stage.candidates(targets.user_rows, exclude_seen=not t.repeat_purchases)
    recall = mean_recall([per_user_recall(candidates, targets.targets)])
    sizes = {s: n for s, n in two_stage.params["sizes"].items() if n > 0}
    singles = [r for r in rows if r["model"] != "two_stage"]
    best = max(singles, key=lambda r: r["metrics"]["ndcg@10"])
    ours = next(r for r in rows if r["model"] == "two_stage")
    diff = per_user_ndcg["two_stage"] - per_user_ndcg[best["model"]]
    low, high = bootstrap_ci({"d": diff}, samples=args.bootstrap)["d"]
    base = best["metrics"]["ndcg@10"]
    lift = ours["metrics"]["ndcg@10"] / base - 1 if base else float("nan")
    separate = ours["intervals"]["ndcg@10"][0] > best["intervals"]["ndcg@10"][1]
    comparison = {
        "best_single_model": best["model"],
        "ndcg@10_lift": round(lift, 4),
        "paired_difference": round(float(diff.mean()), 5),
        "paired_difference_interval": [round(low, 5), round(high, 5)],
        "intervals_overlap": not separate,
        "goal_met": bool(lift >= 0.10 and separate),
    }

    table = Table(
        title=f"Two-stage ranking on {args.dataset} (full ranking, 95% bootstrap intervals)"
    )
    for column in ("model", "NDCG@10", "Recall@20", "candidate recall@N", "fit s", "top-50 s"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for row in rows:
        m, ci = row["metrics"], row["intervals"]
        source = row["model"].removeprefix("source:")
        cand = f"{recall[source]:.4f} @{sizes[source]}" if source in sizes else ""
        if row["model"] == "two_stage":
            cand = f"union {recall['union']:.4f} @{recall['union_size']:.0f}"
        table.add_row(
            row["model"],
            f"{m['ndcg@10']:.4f} ({ci['ndcg@10'][0]:.4f}–{ci['ndcg@10'][1]:.4f})",
            f"{m['recall@20']:.4f} ({ci['recall@20'][0]:.4f}–{ci['recall@20'][1]:.4f})",
            cand,
            "" if row["fit_seconds"] is None else f"{row['fit_seconds']:.1f}",
            f"{row['recommend_seconds']:.2f}",
        )
    console.print(table)
    verdict = "MET" if comparison["goal_met"] else "NOT met"
    console.print(
        f"two_stage vs the best single model ({best['model']}): NDCG@10 {lift:+.1%}; paired "
        f"difference {diff.mean():+.4f} (95% CI {low:+.4f} to {high:+.4f}); intervals "
        f"{'overlap' if comparison['intervals_overlap'] else 'do not overlap'}. Goal (≥ +10% "
        f"with non-overlapping intervals): {verdict}. Ranker on {report['ranker']['device']}, "
        f"{report['ranker']['best_rounds']} rounds, {report['pairs']:,} pairs, "
        f"{report['ranker']['training_seconds']:.1f} s."
    )
    run.write(
        candidates={"n_per_source": sizes, "test_recall": recall},
        comparison=comparison,
        results=rows,
        two_stage_training=report,
    )


if __name__ == "__main__":
    main()
