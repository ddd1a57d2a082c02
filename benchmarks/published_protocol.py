"""Every shoprec model on the protocol the sequential-recommendation papers publish on.

``--dataset amazon_toys`` (the S3-Rec Amazon Toys file from ``../shared/datasets/amazon_toys/``,
never committed): leave one out per user (the last item is the test target, the one before it
the validation target), every model ranks all items with the user's history excluded, HR@K and
NDCG@K for K = 5, 10, 20 averaged over **all** held-out users (a user whose target the protocol
cannot count is a miss), printed beside the published rows of that dataset's README.
``--dataset online_retail`` and ``synthetic`` run the same models on today's pipeline protocol
(``split`` in params.yaml, temporal by default). Hyper-parameters come from params.yaml except
EASE's λ, chosen on the validation targets (never the test targets) from a small grid.

For each model: the metrics with 95% bootstrap intervals over users, fit time and training
throughput (positions or examples per second for the neural models).

    python benchmarks/published_protocol.py --dataset amazon_toys
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shoprec.config import load_params
from shoprec.evaluation.evaluate import build_targets, evaluate_model
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import create_model
from shoprec.training.sequential import fit_sequential
from shoprec.training.two_stage import fit_two_stage
from shoprec.training.two_tower import fit_two_tower

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import ONLINE_RETAIL, load_validated
from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
TOYS = ROOT.parent / "shared/datasets/amazon_toys/Toys_and_Games.txt"
KS = [5, 10, 20]
EASE_GRID = (20.0, 50.0, 200.0, 500.0)
MODELS = ("most_popular", "itemknn", "ease", "two_tower", "sequential", "two_stage")
DEFAULT_MODELS = ("most_popular", "itemknn", "ease", "sequential", "two_stage")
# ../shared/datasets/amazon_toys/README.md: published HR@10 / NDCG@10, all-item ranking
PUBLISHED = {
    "amazon_toys": [
        ("PopRec", 0.0113, 0.0061, "S3-Rec README, all_rank.PNG"),
        ("BERT4Rec", 0.0203, 0.0099, "S3-Rec README, all_rank.PNG"),
        ("SASRec (BCE, 1 negative)", 0.0675, 0.0374, "S3-Rec README, all_rank.PNG"),
        ("S3-Rec", 0.0700, 0.0376, "S3-Rec README, all_rank.PNG"),
        ("ICSRec (WSDM 2024)", 0.1055, 0.0657, "QinHsiu/ICSRec README, --do_eval"),
    ]
}


def _load(dataset: str, params):
    if dataset == "amazon_toys":
        from shoprec.data.s3rec import read_s3rec
        from shoprec.validation.batch import validate_batch

        if not TOYS.is_file():
            raise SystemExit(f"{TOYS} is missing (the shared datasets folder)")
        data = read_s3rec(TOYS)
        checked = validate_batch(
            data.events, data.items, params.validation.relative_to(ROOT), problems=data.problems
        )
        if not checked.accepted:
            raise SystemExit(f"the data was rejected by validation: {checked.message}")
        split = params.split.model_copy(update={"strategy": "leave_last_out"})
        return checked.events, checked.items, checked.counts(), split
    events, items, counts = load_validated(dataset, params, ONLINE_RETAIL)
    return events, items, counts, params.split


def _ease_on_validation(holdout, targets_params, l2_grid) -> tuple[float, dict]:
    """EASE's λ with the best validation NDCG@10 (fit before the validation cut)."""
    validation = build_targets(
        holdout.split.validation,
        holdout.before_validation,
        targets_params.relevant_event_types,
        targets_params.repeat_purchases,
    )
    scores = {}
    for l2 in l2_grid:
        model = create_model("ease", l2=l2, max_items=50_000).fit(holdout.before_validation)
        result = evaluate_model(model, validation, [10], bootstrap_samples=1)
        scores[l2] = round(result.values["ndcg@10"], 6)
    return max(scores, key=scores.get), scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", choices=("amazon_toys", "online_retail", "synthetic"), default="amazon_toys"
    )
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated, of {', '.join(MODELS)}",
    )
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    args = parser.parse_args()
    wanted = [m for m in args.models.split(",") if m]
    console = Console(width=200)
    params = load_params(args.params)
    started = time.perf_counter()
    events, items, counts, split = _load(args.dataset, params)
    holdout = prepare_holdout(events, items, split, params.features, params.targets)
    inputs = TrainingInputs.from_holdout(
        holdout, items, params.targets, params.features.event_weights
    )
    history, targets = holdout.history, holdout.targets
    # users with a test target, including those the evaluation cannot count (target already
    # seen, or an unknown item): each of them is a miss in the published protocol
    held_out = int(targets.info["test_users"])
    # the published protocol averages over every held-out user; the pipeline's, over the
    # users it can evaluate (README, "How models are evaluated")
    published = args.dataset in PUBLISHED
    share = len(targets.user_rows) / max(held_out, 1) if published else 1.0
    console.print(
        f"{args.dataset}: {len(events):,} events, {history.shape[0]:,} users × "
        f"{history.shape[1]:,} items, split {split.strategy}; {len(targets.user_rows):,} of "
        f"{held_out:,} test users evaluable; loaded in {time.perf_counter() - started:.1f} s"
    )

    models, fits, notes = {}, {}, {}
    at_validation = {}

    def timed(name, func):
        with console.status(f"training {name}…"):
            t = time.perf_counter()
            out = func()
            fits[name] = {"fit_seconds": round(time.perf_counter() - t, 1)}
        return out

    for name in ("most_popular", "itemknn"):
        if name in wanted:
            hyper = getattr(params.models, name).model_dump()
            models[name] = timed(name, lambda n=name, h=hyper: create_model(n, **h).fit(history))
    if "ease" in wanted:
        l2, grid = _ease_on_validation(holdout, params.targets, EASE_GRID)
        notes["ease"] = {"l2_chosen_on_validation": l2, "validation_ndcg@10": grid}
        models["ease"] = timed(
            "ease", lambda: create_model("ease", l2=l2, max_items=50_000).fit(history)
        )
    # the two-stage model's sources follow the train: switches of params.yaml
    uses = {
        m: "two_stage" in wanted and getattr(params.train, m) for m in ("two_tower", "sequential")
    }
    if "two_tower" in wanted or uses["two_tower"]:
        tt, report, tt_val = timed(
            "two_tower", lambda: fit_two_tower(inputs, params.models.two_tower)
        )
        at_validation["two_tower"] = (tt_val, tt)
        fits["two_tower"]["examples_per_second"] = round(
            report["first_fit"].get("examples_per_second", 0.0)
        )
        if "two_tower" in wanted:
            models["two_tower"] = tt
    if "sequential" in wanted or uses["sequential"]:
        seq, report, seq_val = timed(
            "sequential", lambda: fit_sequential(inputs, params.models.sequential)
        )
        at_validation["sequential"] = (seq_val, seq)
        first = report["first_fit"]
        fits["sequential"].update(
            positions_per_second=round(first["positions_per_second"]),
            device=first["device"],
            epochs_used=report["epochs_used"],
            validation_ndcg=[round(v, 4) for v in first["val"]],
        )
        if "sequential" in wanted:
            models["sequential"] = seq
    if "two_stage" in wanted:
        tt_val, tt = at_validation.get("two_tower", (None, None))
        seq_val, seq = at_validation.get("sequential", (None, None))
        models["two_stage"], report = timed(
            "two_stage",
            lambda: fit_two_stage(
                inputs,
                params.models.two_stage,
                params.models.itemknn,
                params.models.ease,
                two_tower_at_validation=tt_val,
                two_tower_at_test=tt,
                sequential_at_validation=seq_val,
                sequential_at_test=seq,
            ),
        )
        notes["two_stage"] = {
            "candidate_recall_at_validation": report["candidate_recall_at_validation"],
            "cold_items": report["cold_items"],
            "sources": report["active_sources"],
        }

    results = {}
    for name, model in models.items():
        result = evaluate_model(
            model,
            targets,
            KS,
            exclude_seen=not params.targets.repeat_purchases,
            bootstrap_samples=args.bootstrap,
        )
        row = {}
        for k in KS:
            for metric, key in (("hr", "hitrate"), ("ndcg", "ndcg")):
                value = result.values[f"{key}@{k}"] * share
                lo, hi = (x * share for x in result.intervals[f"{key}@{k}"])
                row[f"{metric}@{k}"] = round(value, 4)
                row[f"{metric}@{k}_ci"] = [round(lo, 4), round(hi, 4)]
        row["cold_item_recall@20"] = round(result.cold_items.get("recall@20", float("nan")), 4)
        results[name] = {**row, **fits.get(name, {})}

    table = Table(title=f"{args.dataset}: all-item ranking, {split.strategy}")
    for column in ("model", *(f"{m}@{k}" for m in ("hr", "ndcg") for k in KS), "fit s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, row in results.items():
        table.add_row(
            name,
            *(
                f"{row[f'{m}@{k}']:.4f} [{row[f'{m}@{k}_ci'][0]:.4f}, {row[f'{m}@{k}_ci'][1]:.4f}]"
                for m in ("hr", "ndcg")
                for k in KS
            ),
            f"{row.get('fit_seconds', 0):.0f}",
        )
    for label, hr10, ndcg10, _ in PUBLISHED.get(args.dataset, []):
        table.add_row(f"published: {label}", "", f"{hr10:.4f}", "", "", f"{ndcg10:.4f}", "", "")
    console.print(table)

    tag = f"_{args.tag}" if args.tag else ""
    out = ROOT / "benchmarks/results" / f"published_protocol_{args.dataset}{tag}.json"
    payload = {
        "benchmark": "published_protocol",
        "dataset": args.dataset,
        "machine": machine_info(),
        "validation": counts,
        "params": os.path.relpath(args.params.resolve(), ROOT),
        "protocol": {
            "split": split.strategy,
            "ks": KS,
            "held_out_users": held_out,
            "evaluable_users": len(targets.user_rows),
            "metrics_over": (
                "all held-out users (unevaluable ones count as misses)"
                if published
                else "the evaluable test users, as in the pipeline"
            ),
            "bootstrap_samples": args.bootstrap,
        },
        "results": results,
        "notes": notes,
        "published": [
            {"model": m, "hr@10": h, "ndcg@10": n, "source": s}
            for m, h, n, s in PUBLISHED.get(args.dataset, [])
        ],
    }
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
