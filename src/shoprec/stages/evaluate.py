"""Stage ``evaluate``: full-ranking test metrics for every trained model.

Writes ``metrics/evaluation.json`` (``{model: {"ndcg@10": x, ...}}``, a DVC metrics file),
``metrics/confidence_intervals.json`` (bootstrap intervals over users),
``metrics/cold_items.json`` (recall on targets that are items new in the test period),
``metrics/segments.json`` (every metric per user and item segment, ``evaluation.segments``),
``metrics/candidates.json`` (the two-stage model's candidate recall per source and of the
union, at each source's N), one
``metrics/curves/<model>.json`` per model for ``dvc plots`` and ``reports/evaluation.json``
(how many users and targets the numbers rest on).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from shoprec import layout
from shoprec.config import Params
from shoprec.data.split import CUTS_FILE, Cuts
from shoprec.errors import DataError
from shoprec.evaluation.evaluate import TestTargets, build_targets, evaluate_with_params
from shoprec.evaluation.segments import SegmentLabels, segment_labels
from shoprec.features.interactions import Interactions
from shoprec.io import read_parquet, write_json
from shoprec.ranking.candidates import mean_recall, per_user_recall
from shoprec.ranking.two_stage import TwoStageRecommender
from shoprec.training.model_table import load_model

log = logging.getLogger(__name__)

CURVE_METRICS = ("recall", "ndcg", "precision", "hitrate")


def run(params: Params) -> dict:
    p, t = params.evaluation, params.targets
    history = Interactions.load(layout.BEFORE_TEST)
    test = read_parquet(layout.SPLIT / "test.parquet")
    targets = build_targets(test, history, t.relevant_event_types, t.repeat_purchases)
    if len(targets.user_rows) == 0:
        repeats = targets.info.get("target_pairs_before_repeat_filter", 0)
        advice = (
            f"all {repeats} test target pairs are items their users had before (e.g. viewed, "
            "as leave_last_out's held-out targets often are): set targets.repeat_purchases: "
            "true to count them"
            if repeats and not t.repeat_purchases
            else "check the split and targets params"
        )
        raise DataError(
            "evaluate: no test user has a relevant test-period interaction "
            f"(event types {t.relevant_event_types}); {advice}"
        )
    log.info("evaluating on %d users, %d target pairs", len(targets.user_rows), targets.targets.nnz)
    ks = sorted(set(p.ks))
    labels = split_segments(history, targets, params)
    metrics, intervals, cold, segments = {}, {}, {}, {}
    models = params.train.evaluated()
    candidates = {}
    for name in models:
        model = load_model(layout.MODELS / name)
        if not np.array_equal(model.history.item_ids, history.item_ids):
            raise DataError(f"evaluate: models/{name} was fit on another catalogue; re-run train")
        result = evaluate_with_params(model, targets, p, t, segments=labels)
        segments[name] = result.segments
        metrics[name] = {key: round(value, 6) for key, value in sorted(result.values.items())}
        intervals[name] = {
            key: [round(lo, 6), round(hi, 6)] for key, (lo, hi) in sorted(result.intervals.items())
        }
        curve = [
            {"k": k, **{m: round(result.values[f"{m}@{k}"], 6) for m in CURVE_METRICS}} for k in ks
        ]
        write_json(layout.CURVES / f"{name}.json", curve)
        cold[name] = {k: round(v, 6) for k, v in result.cold_items.items()}
        if isinstance(model, TwoStageRecommender):
            candidates = candidate_recall(model, targets, exclude_seen=not t.repeat_purchases)
        log.info("%s: ndcg@%d = %.4f", name, ks[0], result.values[f"ndcg@{ks[0]}"])
    write_json(layout.EVALUATION_METRICS, metrics)
    write_json(layout.CONFIDENCE_INTERVALS, intervals)
    write_json(layout.COLD_ITEMS, cold)
    write_json(layout.SEGMENTS, {"segments": labels.info, "models": segments})
    write_json(layout.CANDIDATE_RECALL, candidates)
    report = {
        "protocol": {
            "ks": ks,
            "relevant_event_types": t.relevant_event_types,
            "repeat_purchases": t.repeat_purchases,
            "bootstrap": p.bootstrap.model_dump(),
        },
        **targets.info,
    }
    write_json(layout.REPORTS / "evaluation.json", report)
    return metrics


def split_segments(history: Interactions, targets: TestTargets, params: Params) -> SegmentLabels:
    """The segments of the evaluated users and the catalogue, from ``data/split``."""
    before_test = pd.concat(
        [read_parquet(layout.SPLIT / f"{part}.parquet") for part in ("train", "validation")],
        ignore_index=True,
    )
    cuts = Cuts.from_frame(read_parquet(layout.SPLIT / CUTS_FILE))
    return segment_labels(before_test, cuts, history, targets.user_rows, params.evaluation.segments)


def candidate_recall(
    model: TwoStageRecommender, targets: TestTargets, exclude_seen: bool, batch_size: int = 1024
) -> dict:
    """Test recall of each candidate source's top N and of their union (the ranker's ceiling)."""
    parts = []
    for start in range(0, len(targets.user_rows), batch_size):
        rows = targets.user_rows[start : start + batch_size]
        found = model.candidates(rows, exclude_seen=exclude_seen)
        parts.append(per_user_recall(found, targets.targets[start : start + batch_size]))
    recall = mean_recall(parts)
    sizes = model.params["sizes"]
    return {
        "n_per_source": {s: n for s, n in sizes.items() if n > 0},
        "recall": recall,
    }
