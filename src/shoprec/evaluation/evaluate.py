"""Score a model on the test period: targets, full ranking, metrics and confidence intervals.

Protocol (DESIGN.md): test users are users with history before the test period; their
targets are the test-period items of the relevant event types. Unless repeat purchases
count, items a user already interacted with are excluded from the ranking and from the
targets. Every model is ranked over the whole catalogue (no sampled negatives).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.config import EvaluationParams, TargetParams
from shoprec.evaluation.bootstrap import bootstrap_ci
from shoprec.evaluation.metrics import coverage, hits_matrix, novelty, user_metrics
from shoprec.evaluation.segments import SegmentLabels, segment_metrics
from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender


@dataclass
class TestTargets:
    """The users to evaluate (history rows) and their relevant test items (CSR over items)."""

    user_rows: np.ndarray
    targets: sp.csr_matrix
    info: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelEvaluation:
    values: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    users: int
    cold_items: dict[str, float] = field(default_factory=dict)
    # with segment labels: {"users": {segment: metrics}, "items": {...}} (evaluation.segments)
    segments: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def build_targets(
    test_events: pd.DataFrame,
    history: Interactions,
    relevant_event_types: list[str],
    repeat_purchases: bool = False,
) -> TestTargets:
    """Turn test-period events into per-user target sets over the catalogue."""
    relevant = test_events[test_events["event_type"].isin(relevant_event_types)]
    rows = history.user_positions(relevant["user_id"])
    cols = history.item_positions(relevant["item_id"])
    known_user, known_item = rows >= 0, cols >= 0
    keep = known_user & known_item
    n_users, n_items = history.shape
    pairs = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
        shape=(n_users, n_items),
    )
    pairs.sum_duplicates()
    pairs.data[:] = 1.0
    n_pairs = pairs.nnz
    if not repeat_purchases:
        seen = history.matrix.copy()
        seen.data[:] = 1.0
        pairs = pairs - pairs.multiply(seen)
        pairs.eliminate_zeros()
    per_user = np.diff(pairs.indptr)
    user_rows = np.flatnonzero(per_user > 0)
    targets = pairs[user_rows].tocsr()
    targets.sort_indices()
    new_items = history.item_user_counts() == 0
    info = {
        "relevant_test_events": len(relevant),
        "test_users": int(relevant["user_id"].nunique()),
        "cold_test_users_skipped": int(relevant.loc[~known_user, "user_id"].nunique()),
        "events_on_unknown_items_skipped": int((known_user & ~known_item).sum()),
        "target_pairs_before_repeat_filter": int(n_pairs),
        "target_pairs": int(targets.nnz),
        "target_pairs_on_new_items": int(new_items[targets.indices].sum()),
        "evaluated_users": len(user_rows),
    }
    return TestTargets(user_rows=user_rows, targets=targets, info=info)


def evaluate_ranking(
    recommended: np.ndarray,
    targets: TestTargets,
    ks: list[int],
    item_popularity: np.ndarray,
    n_history_users: int,
    bootstrap_samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    segments: SegmentLabels | None = None,
) -> ModelEvaluation:
    """Metrics (means over users) and bootstrap intervals for one model's top-K lists;
    with ``segments``, every metric per user and item segment too."""
    ks = sorted(set(ks))
    hits = hits_matrix(recommended, targets.targets)
    n_relevant = np.diff(targets.targets.indptr)
    per_user = user_metrics(hits, n_relevant, ks)
    per_user.update(novelty(recommended, item_popularity, n_history_users, ks))
    values = {name: float(np.mean(v)) for name, v in per_user.items()}
    intervals = bootstrap_ci(per_user, samples=bootstrap_samples, confidence=confidence, seed=seed)
    for name, value in coverage(recommended, targets.targets.shape[1], ks).items():
        values[name] = float(value)
    new_items = np.asarray(item_popularity) == 0
    return ModelEvaluation(
        values=values,
        intervals=intervals,
        users=len(targets.user_rows),
        cold_items=cold_item_recall(recommended, targets, new_items, ks),
        segments=(
            segment_metrics(recommended, targets.targets, per_user, segments, ks)
            if segments is not None
            else {}
        ),
    )


def evaluate_model(
    model: Recommender,
    targets: TestTargets,
    ks: list[int],
    exclude_seen: bool = True,
    bootstrap_samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    segments: SegmentLabels | None = None,
) -> ModelEvaluation:
    """Rank the whole catalogue for every target user and score it."""
    history = model._require_fitted()
    recommended, _ = model.recommend_indices(targets.user_rows, max(ks), exclude_seen=exclude_seen)
    return evaluate_ranking(
        recommended,
        targets,
        ks,
        item_popularity=history.item_user_counts(),
        n_history_users=history.shape[0],
        bootstrap_samples=bootstrap_samples,
        confidence=confidence,
        seed=seed,
        segments=segments,
    )


def evaluate_with_params(
    model: Recommender,
    targets: TestTargets,
    evaluation: EvaluationParams,
    target_params: TargetParams,
    segments: SegmentLabels | None = None,
) -> ModelEvaluation:
    """``evaluate_model`` with the cut-offs, bootstrap and repeat rule of ``params.yaml``
    (the evaluate stage and every cross-validation fold score alike)."""
    return evaluate_model(
        model,
        targets,
        sorted(set(evaluation.ks)),
        exclude_seen=not target_params.repeat_purchases,
        bootstrap_samples=evaluation.bootstrap.samples,
        confidence=evaluation.bootstrap.confidence,
        seed=evaluation.bootstrap.seed,
        segments=segments,
    )


def cold_item_recall(
    recommended: np.ndarray, targets: TestTargets, new_items: np.ndarray, ks: list[int]
) -> dict[str, float]:
    """Recall@K on the targets that are items with no interaction before the test period.

    Only users with at least one such target count; a model that cannot score an item it
    has never seen (ItemKNN, EASE) gets zero here.
    """
    scale = sp.diags(np.asarray(new_items, dtype=np.float32))
    cold = (targets.targets @ scale).tocsr()
    cold.eliminate_zeros()
    per_user = np.diff(cold.indptr)
    users = per_user > 0
    out: dict[str, float] = {"users": int(users.sum()), "targets": int(cold.nnz)}
    if not users.any():
        return out
    hits = hits_matrix(recommended[users], cold[users])
    for k in sorted(set(ks)):
        out[f"recall@{k}"] = float(np.mean(hits[:, :k].sum(axis=1) / per_user[users]))
    return out
