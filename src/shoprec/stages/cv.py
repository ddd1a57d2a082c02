"""Stage ``cv``: the cross-validation folds side by side, and their spread.

Reads ``metrics/cv/fold_<k>.json`` for each fold of ``evaluation.cv.folds`` (a fold file
left over from a fold no longer listed is ignored) and writes ``metrics/cv.json``: per fold
and model every metric, and across folds each metric's mean, standard deviation (ddof 1)
and minimum; plus one ``metrics/cv_plots/<model>.json`` per model (NDCG@10 and Recall@20 per
fold) for ``dvc plots``. With no folds listed it writes an empty summary that says so.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import DataError
from shoprec.io import read_json, write_json

log = logging.getLogger(__name__)

PLOTTED = ("ndcg@10", "recall@20")


def summarise(folds: dict[int, dict]) -> dict:
    """``{model: {metric: {"mean", "std", "min", "folds"}}}`` over the folds that scored it."""
    values: dict[str, dict[str, list[float]]] = {}
    for fold in folds.values():
        for name, scored in fold["models"].items():
            for metric, value in scored["metrics"].items():
                values.setdefault(name, {}).setdefault(metric, []).append(value)
    return {
        name: {
            metric: {
                "mean": round(float(np.mean(v)), 6),
                "std": round(float(np.std(v, ddof=1)), 6) if len(v) > 1 else 0.0,
                "min": round(float(np.min(v)), 6),
                "folds": len(v),
            }
            for metric, v in sorted(metrics.items())
        }
        for name, metrics in values.items()
    }


def run(params: Params) -> dict:
    folds = params.evaluation.cv.folds
    loaded: dict[int, dict] = {}
    for k in folds:
        path = layout.cv_fold_file(k)
        if not path.exists():
            raise DataError(f"cv: {path} is missing; run `dvc repro cv_fold@{k}`")
        loaded[k] = read_json(path)
    shutil.rmtree(layout.CV_PLOTS, ignore_errors=True)
    layout.CV_PLOTS.mkdir(parents=True, exist_ok=True)
    models = sorted({name for fold in loaded.values() for name in fold["models"]})
    for name in models:
        rows = [
            {"fold": k, **{m: fold["models"][name]["metrics"].get(m) for m in PLOTTED}}
            for k, fold in loaded.items()
            if name in fold["models"]
        ]
        write_json(layout.CV_PLOTS / f"{name}.json", rows)
    out = {
        "folds": {
            str(k): {
                "window": fold["window"],
                "test_users": fold["targets"].get("evaluated_users"),
                "metrics": {n: s["metrics"] for n, s in fold["models"].items()},
            }
            for k, fold in loaded.items()
        },
        "summary": summarise(loaded),
    }
    if not folds:
        out["note"] = "evaluation.cv.folds is empty: no cross-validation folds were run"
    write_json(layout.CV, out)
    log.info("cv: %d fold(s), %d model(s)", len(folds), len(models))
    return out
