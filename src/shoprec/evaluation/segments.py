"""Every metric per user segment and per item segment (``metrics/segments.json``).

One number over all test users hides where a model is weak. The segments:

- **users by history length**: events before the user's own test cut, binned by
  ``evaluation.segments.history_edges`` (``[3, 10]``: ``1-2``, ``3-9``, ``10+``);
- **new vs returning users**: ``new`` users have no event before their validation cut (they
  arrived after the training period; all their history is the validation period),
  ``returning`` users have. A user first seen in the test window has no history at all, so
  no model here can rank for them: the evaluation protocol skips them and
  ``cold_test_users_skipped`` counts them;
- **items by popularity**: ``head`` is the ``head_items`` share of the items with history,
  the most popular by distinct users before the test cut; ``tail`` every other item with
  history; ``new`` the items with none (new in the test window, as ``cold_items.json``).

A user segment scores its users on all their targets (every metric, coverage and novelty
included). An item segment scores each user that has a target in it on those targets only
(recall, NDCG, precision and hit rate at each K), the way ``cold_items.json`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.config import SegmentParams
from shoprec.data.split import Cuts
from shoprec.evaluation.metrics import coverage, hits_matrix, user_metrics
from shoprec.features.interactions import Interactions


@dataclass
class SegmentLabels:
    """Boolean masks: ``users`` over the evaluated users (``TestTargets.user_rows`` order),
    ``items`` over the catalogue; ``info`` says how they were drawn."""

    users: dict[str, np.ndarray] = field(default_factory=dict)
    items: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)


def history_bins(edges: list[int]) -> list[str]:
    """Bin names for ``edges``: ``[3, 10]`` gives ``1-2``, ``3-9``, ``10+``."""
    lows = [1, *edges[:-1]]
    names = [
        f"{lo}-{hi - 1}" if hi - 1 > lo else f"{lo}" for lo, hi in zip(lows, edges, strict=False)
    ]
    return [*names, f"{edges[-1]}+"]


def segment_labels(
    history_events: pd.DataFrame,
    cuts: Cuts,
    history: Interactions,
    user_rows: np.ndarray,
    params: SegmentParams,
) -> SegmentLabels:
    """The segment of every evaluated user and of every catalogue item.

    ``history_events`` are the events before the test cut (train and validation parts);
    ``history`` the interactions models are fit on; ``user_rows`` the evaluated users.
    """
    user_ids = np.asarray(history.user_ids)[user_rows].astype(str)
    events = history_events[["user_id", "timestamp"]]
    users = events["user_id"].astype(str)
    counts = users.value_counts().reindex(user_ids, fill_value=0).to_numpy()
    first = events.groupby(users)["timestamp"].min().reindex(user_ids)
    validation_at = cuts.validation_at(user_ids)
    arrived_before = first.reset_index(drop=True) < pd.Series(validation_at)
    new = ~arrived_before.to_numpy(dtype=bool)

    labels = SegmentLabels()
    edges = list(params.history_edges)
    bounds = [1, *edges, np.iinfo(np.int64).max]
    for name, lo, hi in zip(history_bins(edges), bounds, bounds[1:], strict=False):
        labels.users[f"history:{name}"] = (counts >= lo) & (counts < hi)
    labels.users["arrival:new"] = new
    labels.users["arrival:returning"] = ~new

    popularity = history.item_user_counts()
    with_history = np.flatnonzero(popularity > 0)
    n_head = int(np.ceil(params.head_items * len(with_history))) if len(with_history) else 0
    order = with_history[np.argsort(-popularity[with_history], kind="stable")]
    head = np.zeros(len(popularity), dtype=bool)
    head[order[:n_head]] = True
    labels.items = {"head": head, "tail": (popularity > 0) & ~head, "new": popularity == 0}
    labels.info = {
        "history_edges": edges,
        "head_items": params.head_items,
        "head_min_users": int(popularity[order[n_head - 1]]) if n_head else None,
    }
    return labels


def _means(per_user: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, float]:
    return {name: round(float(np.mean(v[mask])), 6) for name, v in sorted(per_user.items())}


def segment_metrics(
    recommended: np.ndarray,
    targets: sp.csr_matrix,
    per_user: dict[str, np.ndarray],
    labels: SegmentLabels,
    ks: list[int],
) -> dict[str, dict[str, dict[str, float]]]:
    """``{"users": {segment: {"users": n, metric: mean}}, "items": {segment: {...}}}``.

    ``per_user`` are the per-user values of every metric over all targets (as the overall
    numbers are averaged from); an empty segment has only its count.
    """
    out: dict[str, dict[str, dict[str, float]]] = {"users": {}, "items": {}}
    n_items = targets.shape[1]
    for name, mask in labels.users.items():
        row: dict[str, float] = {"users": int(mask.sum())}
        if mask.any():
            row.update(_means(per_user, mask))
            for key, value in coverage(recommended[mask], n_items, ks).items():
                row[key] = round(float(value), 6)
        out["users"][name] = row
    for name, in_segment in labels.items.items():
        restricted = (targets @ sp.diags(in_segment.astype(np.float32))).tocsr()
        restricted.eliminate_zeros()
        n_relevant = np.diff(restricted.indptr)
        users = n_relevant > 0
        row = {"users": int(users.sum()), "targets": int(restricted.nnz)}
        if users.any():
            hits = hits_matrix(recommended[users], restricted[users])
            row.update(_means(user_metrics(hits, n_relevant[users], ks), slice(None)))
        out["items"][name] = row
    return out


def weakest_segment(
    candidate: dict[str, dict[str, dict[str, float]]],
    reference: dict[str, dict[str, dict[str, float]]],
    metric: str,
    min_users: int = 1,
) -> dict[str, object] | None:
    """The segment where ``candidate`` does worst against ``reference`` on ``metric``.

    Worst means the lowest difference ``candidate - reference`` (ties: the larger segment);
    segments with fewer than ``min_users`` users, or missing the metric, are skipped.
    """
    worst: dict[str, object] | None = None
    for kind in ("users", "items"):
        for name, row in candidate.get(kind, {}).items():
            other = reference.get(kind, {}).get(name, {})
            if metric not in row or metric not in other or row["users"] < min_users:
                continue
            diff = row[metric] - other[metric]
            key = (diff, -row["users"])
            if worst is None or key < worst["_key"]:
                worst = {
                    "segment": f"{kind[:-1]} {name}",
                    "users": row["users"],
                    "candidate": row[metric],
                    "reference": other[metric],
                    "difference": round(diff, 6),
                    "_key": key,
                }
    if worst is not None:
        worst.pop("_key")
    return worst
