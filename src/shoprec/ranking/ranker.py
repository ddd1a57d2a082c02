"""Second stage: an XGBoost learning-to-rank model over the candidate pairs.

LambdaMART (``rank:ndcg`` by default) with ``tree_method="hist"``, one query group per user,
graded labels, and early stopping on the NDCG of held-out users. It runs on the GPU
(``device="cuda"``) when XGBoost was built with CUDA and a GPU answers, else on the CPU. The
booster is saved as XGBoost UBJ (no pickle). ``dask_ranker`` trains the same recipe on a Dask
cluster (``compute.engine: dask``) with ``xgboost.dask``.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import warnings
from typing import Any

import numpy as np
import xgboost as xgb

from shoprec.errors import ConfigError

log = logging.getLogger(__name__)


@functools.cache
def cuda_available() -> bool:
    """True when this XGBoost has CUDA support and a GPU trains a one-row model.

    Without a GPU, XGBoost does not fail: it warns and falls back to the CPU, so the probe
    reads the device the booster actually ended up on.
    """
    if not xgb.build_info().get("USE_CUDA"):
        return False
    probe = xgb.DMatrix(np.zeros((2, 1), dtype=np.float32), label=[0.0, 1.0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = xgb.train({"device": "cuda", "tree_method": "hist", "verbosity": 0}, probe, 1)
    except xgb.core.XGBoostError:
        return False
    config = json.loads(booster.save_config())
    return str(config["learner"]["generic_param"].get("device", "cpu")).startswith("cuda")


def pick_device(requested: str) -> str:
    """``auto``: the GPU when one is usable, else the CPU; ``cuda`` without a GPU is an error."""
    if requested == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if requested == "cuda":
        raise ConfigError("models.two_stage.device: cuda requested but XGBoost sees no GPU")
    return "cpu"


SMALL_BATCH_ROWS = 5000


def _dmatrix(x: np.ndarray, y: np.ndarray, qid: np.ndarray, names: list[str]) -> xgb.DMatrix:
    return xgb.DMatrix(x, label=y, qid=qid, feature_names=names, missing=np.nan)


def train_ranker(
    x: np.ndarray,
    y: np.ndarray,
    qid: np.ndarray,
    names: list[str],
    booster_params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    holdout_share: float,
    seed: int,
    device: str = "auto",
) -> tuple[xgb.Booster, dict[str, Any]]:
    """Train with early stopping on held-out query groups, then refit on all groups.

    ``qid`` must be non-decreasing (pairs grouped by user). Groups with no positive label
    teach LambdaMART nothing and are dropped by the caller.
    """
    device = pick_device(device)
    params = {**booster_params, "tree_method": "hist", "device": device, "seed": seed}
    params.setdefault("eval_metric", "ndcg@10")
    groups = np.unique(qid)
    held = holdout_groups(groups, holdout_share, seed)
    in_holdout = np.isin(qid, groups[held])
    fit_part = _dmatrix(x[~in_holdout], y[~in_holdout], qid[~in_holdout], names)
    stop_part = _dmatrix(x[in_holdout], y[in_holdout], qid[in_holdout], names)
    curve: dict[str, dict[str, list[float]]] = {}
    started = time.perf_counter()
    booster = xgb.train(
        params,
        fit_part,
        num_boost_round=num_boost_round,
        evals=[(stop_part, "validation")],  # the stopping set only: the fit set's curve is unused
        early_stopping_rounds=early_stopping_rounds,
        evals_result=curve,
        verbose_eval=False,
    )
    best_rounds = int(booster.best_iteration) + 1
    metric = params["eval_metric"]
    validation_curve = curve["validation"][metric]
    log.info(
        "ranker: best %s %.4f on %d held-out users after %d rounds (%s, %.1f s)",
        metric,
        validation_curve[best_rounds - 1],
        int(held.sum()),
        best_rounds,
        device,
        time.perf_counter() - started,
    )
    full = _dmatrix(x, y, qid, names)
    booster = xgb.train(params, full, num_boost_round=best_rounds, verbose_eval=False)
    report = fit_report(params, len(y), len(groups), held, best_rounds, validation_curve, started)
    return booster, report


def holdout_groups(groups: np.ndarray, holdout_share: float, seed: int) -> np.ndarray:
    """Which of the (sorted) query groups early stopping holds out: a ``holdout_share`` draw,
    or the first fifth when the draw takes all or none."""
    rng = np.random.default_rng(seed)
    held = rng.random(len(groups)) < holdout_share
    if held.all() or not held.any():
        held = np.zeros(len(groups), dtype=bool)
        held[: max(1, len(groups) // 5)] = True
    return held


def fit_report(
    params: dict[str, Any],
    pairs: int,
    query_users: int,
    held: np.ndarray,
    best_rounds: int,
    validation_curve: list[float],
    started: float,
) -> dict[str, Any]:
    """What ``train_ranker`` reports (the Dask engine reports the same keys)."""
    metric = params["eval_metric"]
    return {
        "device": params["device"],
        "pairs": pairs,
        "query_users": query_users,
        "held_out_users": int(held.sum()),
        "best_rounds": best_rounds,
        f"validation_{metric}": round(float(validation_curve[best_rounds - 1]), 6),
        "validation_curve": [round(float(v), 6) for v in validation_curve],
        "training_seconds": round(time.perf_counter() - started, 2),
        "params": params,
    }


def feature_importance(booster: xgb.Booster, names: list[str]) -> dict[str, float]:
    """Total gain per feature, as shares that sum to 1 (features never used are left out)."""
    gain = booster.get_score(importance_type="total_gain")
    total = sum(gain.values()) or 1.0
    ranked = sorted(gain.items(), key=lambda kv: -kv[1])
    return {name: round(value / total, 4) for name, value in ranked if name in names}


def _threads(n_rows: int) -> int:
    """One thread for a small batch (a service request): starting OpenMP threads costs more
    than the work, 15–25 ms against ~1 ms measured; all cores for large batches."""
    return 1 if n_rows < SMALL_BATCH_ROWS else -1


def predict(booster: xgb.Booster, x: np.ndarray, names: list[str]) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0, dtype=np.float32)
    data = xgb.DMatrix(x, feature_names=names, missing=np.nan, nthread=_threads(len(x)))
    return booster.predict(data).astype(np.float32)


def contributions(booster: xgb.Booster, x: np.ndarray, names: list[str]) -> np.ndarray:
    """Per-pair SHAP contributions (pairs × features; the bias column is dropped)."""
    if len(x) == 0:
        return np.zeros((0, len(names)), dtype=np.float32)
    data = xgb.DMatrix(x, feature_names=names, missing=np.nan, nthread=_threads(len(x)))
    return booster.predict(data, pred_contribs=True)[:, :-1].astype(np.float32)
