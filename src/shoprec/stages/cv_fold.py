"""Stage ``cv_fold@<k>``: cross-validation fold k, every enabled model fit and scored anew.

Fold k's split comes from the validated events with ``shoprec.data.split.fold_events``: its
validation and test windows slide back by k · ``evaluation.cv.step_days`` (``temporal``) or
hold out each user's k-th-from-last target (``leave_last_out``); the events after its test
window and the items first seen there are left out. Every model of ``train:`` is then fit in
memory on data before the fold's cuts only (``shoprec.training.every_model``) and scored on
the fold's test window with the pipeline's metrics, intervals and segments. Writes
``metrics/cv/fold_<k>.json``; nothing under ``models/`` is touched. The stage reads
``evaluation.cv.step_days`` but not the list of folds, so adding a fold re-runs only that
fold.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pandas as pd

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import ConfigError, DataError
from shoprec.evaluation.evaluate import evaluate_with_params
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.evaluation.segments import segment_labels
from shoprec.io import read_parquet, write_json
from shoprec.training.every_model import fit_every_model
from shoprec.training.inputs import TrainingInputs

log = logging.getLogger(__name__)


def fold_number(text: str) -> int:
    try:
        fold = int(text)
    except ValueError:
        fold = -1
    if fold < 0:
        raise ConfigError(f"cv_fold: name the fold to run, a number 0 or more (got {text!r})")
    return fold


@dataclass
class ScoredFold:
    """A fold's ``metrics/cv/fold_<k>.json`` content and what it cost (seconds, not saved)."""

    result: dict
    fit_seconds: dict[str, float]
    seconds: float


def score_fold(events: pd.DataFrame, items: pd.DataFrame, params: Params, k: int) -> ScoredFold:
    """Fold ``k`` of the validated ``events`` and ``items``: every enabled model fit on data
    before the fold's cuts, scored on its test window (the same call as the benchmark's)."""
    started = time.perf_counter()
    t, e = params.targets, params.evaluation
    holdout = prepare_holdout(
        events, items, params.split, params.features, t, fold=k, step_days=e.cv.step_days
    )
    targets = holdout.targets
    if len(targets.user_rows) == 0:
        raise DataError(
            f"cv_fold@{k}: no test user of this fold has a relevant test-period interaction; "
            "use fewer folds or a smaller evaluation.cv.step_days"
        )
    log.info(
        "fold %d (test from %s): %d test users, %d target pairs",
        k,
        holdout.split.info.get("test_start", "per-user cuts"),
        len(targets.user_rows),
        targets.targets.nnz,
    )
    inputs = TrainingInputs.from_holdout(holdout, items, t, params.features.event_weights)
    fitted = fit_every_model(
        inputs, params, on_model=lambda n: log.info("fold %d: fitting %s", k, n)
    )
    split = holdout.split
    labels = segment_labels(
        pd.concat([split.train, split.validation], ignore_index=True),
        holdout.cuts,
        holdout.history,
        targets.user_rows,
        e.segments,
    )
    models = {}
    for name, model in fitted.models.items():
        scored = evaluate_with_params(model, targets, e, t, segments=labels)
        models[name] = {
            "metrics": {key: round(v, 6) for key, v in sorted(scored.values.items())},
            "intervals": {
                key: [round(lo, 6), round(hi, 6)]
                for key, (lo, hi) in sorted(scored.intervals.items())
            },
            "cold_items": {key: round(v, 6) for key, v in scored.cold_items.items()},
            "segments": scored.segments,
        }
    window = {key: v for key, v in split.info.items() if key not in ("events", "users")}
    result = {
        "fold": k,
        "strategy": params.split.strategy,
        "window": window,
        "events": split.info["events"],
        "catalogue_items": int(holdout.history.shape[1]),
        "targets": targets.info,
        "segments": labels.info,
        "models": models,
    }
    return ScoredFold(result, dict(fitted.seconds), round(time.perf_counter() - started, 2))


def run(params: Params, fold: str = "") -> dict:
    k = fold_number(fold)
    events = read_parquet(layout.VALIDATED / layout.EVENTS_FILE)
    items = read_parquet(layout.VALIDATED / layout.ITEMS_FILE)
    scored = score_fold(events, items, params, k)
    write_json(layout.cv_fold_file(k), scored.result)
    # timings vary run to run: the log and benchmarks/cross_validation.py have them
    log.info(
        "fold %d done in %.1f s (%s)",
        k,
        scored.seconds,
        ", ".join(f"{n} {s:.1f} s" for n, s in scored.fit_seconds.items()),
    )
    return scored.result
