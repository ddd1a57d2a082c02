"""Stage ``evaluate``: full-ranking test metrics for every trained model.

Writes ``metrics/evaluation.json`` (``{model: {"ndcg@10": x, ...}}``, a DVC metrics file),
``metrics/confidence_intervals.json`` (bootstrap intervals over users),
``metrics/cold_items.json`` (recall on targets that are items new in the test period), one
``metrics/curves/<model>.json`` per model for ``dvc plots`` and ``reports/evaluation.json``
(how many users and targets the numbers rest on).
"""

from __future__ import annotations

import logging

import numpy as np

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import DataError
from shoprec.evaluation.evaluate import build_targets, evaluate_model
from shoprec.features.interactions import Interactions
from shoprec.io import read_parquet, write_json
from shoprec.models import load_model

log = logging.getLogger(__name__)

CURVE_METRICS = ("recall", "ndcg", "precision", "hitrate")


def run(params: Params) -> dict:
    p = params.evaluation
    history = Interactions.load(layout.BEFORE_TEST)
    test = read_parquet(layout.SPLIT / "test.parquet")
    targets = build_targets(test, history, p.relevant_event_types, p.repeat_purchases)
    if len(targets.user_rows) == 0:
        raise DataError(
            "evaluate: no test user has a relevant test-period interaction "
            f"(event types {p.relevant_event_types}); check split and evaluation params"
        )
    log.info("evaluating on %d users, %d target pairs", len(targets.user_rows), targets.targets.nnz)
    ks = sorted(set(p.ks))
    metrics, intervals, cold = {}, {}, {}
    models = list(params.train.models) + (["two_tower"] if params.train.two_tower else [])
    for name in models:
        model = load_model(layout.MODELS / name)
        if not np.array_equal(model.history.item_ids, history.item_ids):
            raise DataError(f"evaluate: models/{name} was fit on another catalogue; re-run train")
        result = evaluate_model(
            model,
            targets,
            ks,
            exclude_seen=not p.repeat_purchases,
            bootstrap_samples=p.bootstrap.samples,
            confidence=p.bootstrap.confidence,
            seed=p.bootstrap.seed,
        )
        metrics[name] = {key: round(value, 6) for key, value in sorted(result.values.items())}
        intervals[name] = {
            key: [round(lo, 6), round(hi, 6)] for key, (lo, hi) in sorted(result.intervals.items())
        }
        curve = [
            {"k": k, **{m: round(result.values[f"{m}@{k}"], 6) for m in CURVE_METRICS}} for k in ks
        ]
        write_json(layout.CURVES / f"{name}.json", curve)
        cold[name] = {k: round(v, 6) for k, v in result.cold_items.items()}
        log.info("%s: ndcg@%d = %.4f", name, ks[0], result.values[f"ndcg@{ks[0]}"])
    write_json(layout.EVALUATION_METRICS, metrics)
    write_json(layout.CONFIDENCE_INTERVALS, intervals)
    write_json(layout.COLD_ITEMS, cold)
    report = {
        "protocol": {
            "ks": ks,
            "relevant_event_types": p.relevant_event_types,
            "repeat_purchases": p.repeat_purchases,
            "bootstrap": p.bootstrap.model_dump(),
        },
        **targets.info,
    }
    write_json(layout.REPORTS / "evaluation.json", report)
    return metrics
