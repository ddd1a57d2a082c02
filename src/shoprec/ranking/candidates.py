"""First stage: the top-N items of several retrieval sources, merged into one candidate set.

Sources (``SOURCES``): the two-tower vectors, the sequential model (its next-item
probabilities from the user's last events), ItemKNN and EASE over the interaction history,
session co-visitation over the user's recent items, recent popularity, and recent popularity
inside the categories the user shops. Each source scores the whole catalogue for a batch of
users; its top N (per source, from ``params.yaml``) join the union, and each candidate keeps
every source's score and rank as features for the ranker. The recall of the union is the
ceiling of the second stage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from shoprec.evaluation.metrics import hits_matrix
from shoprec.features.interactions import Interactions
from shoprec.models.base import top_k
from shoprec.ranking.snapshot import Snapshot

SOURCES: tuple[str, ...] = (
    "two_tower",
    "sequential",
    "itemknn",
    "ease",
    "covisit",
    "popular_recent",
    "popular_category",
)
# Sources that place an item by its content too, so they can propose items nobody has
# interacted with yet (cold start).
CONTENT_SOURCES: tuple[str, ...] = ("two_tower", "sequential")
# CandidateSources' arrays with one row per history user (besides history and snapshot).
USER_VECTORS: tuple[str, ...] = ("user_vectors", "sequence_user_vectors")
# Sources whose score sums item-to-item weights over the user's history: each candidate of
# theirs has a "seed", the history item that contributed most.
ITEM_TO_ITEM: tuple[str, ...] = ("itemknn", "ease", "covisit")


@dataclass
class CandidateSources:
    """The retrieval sources of one moment (a cut-off) over one history."""

    history: Interactions
    snapshot: Snapshot
    sizes: dict[str, int]  # N per source; 0 or absent: off
    itemknn: sp.csr_matrix | None = None
    ease: np.ndarray | None = None
    covisit: sp.csr_matrix | None = None
    user_vectors: np.ndarray | None = None  # two-tower, one row per history user
    item_vectors: np.ndarray | None = None
    sequence_user_vectors: np.ndarray | None = None  # sequential, one row per history user
    sequence_item_vectors: np.ndarray | None = None

    @property
    def active(self) -> list[str]:
        return [s for s in SOURCES if self.sizes.get(s, 0) > 0]

    def user_rows(self, rows: np.ndarray) -> dict[str, Any]:
        """Everything per history user (history rows, user vectors, the snapshot's user
        arrays) for ``rows`` only: with ``with_user_rows`` the sources of just those users,
        so a Dask task gets its block's users and not the whole history."""
        rows = np.asarray(rows, dtype=np.int64)
        part: dict[str, Any] = {
            "history": self.history.of_users(rows),
            "snapshot": self.snapshot.user_rows(rows),
        }
        for name in USER_VECTORS:
            vectors = getattr(self, name)
            part[name] = None if vectors is None else vectors[rows]
        return part

    def with_user_rows(self, part: dict[str, Any]) -> CandidateSources:
        """These sources over the users of ``part`` (``user_rows``): row ``i`` is its ``i``-th
        user; the per-item sources are shared, not copied."""
        snapshot = replace(self.snapshot, **part["snapshot"])
        others = {name: part[name] for name in USER_VECTORS}
        return replace(self, history=part["history"], snapshot=snapshot, **others)

    def without_users(self) -> CandidateSources:
        """Only the per-item sources (what every block shares)."""
        return self.with_user_rows(self.user_rows(np.zeros(0, dtype=np.int64)))

    def scores(self, source: str, rows: np.ndarray) -> np.ndarray:
        """Dense scores (len(rows) × catalogue) of one source, higher is better."""
        snap = self.snapshot
        if source == "two_tower":
            return self.user_vectors[rows] @ self.item_vectors.T
        if source == "sequential":  # the softmax over the catalogue: > 0, comparable across users
            logits = self.sequence_user_vectors[rows] @ self.sequence_item_vectors.T
            logits -= logits.max(axis=1, keepdims=True)
            probability = np.exp(logits)
            return probability / probability.sum(axis=1, keepdims=True)
        if source == "itemknn":
            return (self.history.matrix[rows] @ self.itemknn).toarray()
        if source == "ease":
            return np.asarray(self.history.matrix[rows] @ self.ease)
        if source == "covisit":
            return (snap.recent[rows] @ self.covisit).toarray()
        popularity = np.log1p(snap.item_users[len(snap.windows) // 2]) * snap.item_available
        if source == "popular_recent":
            return np.broadcast_to(popularity, (len(rows), snap.n_items)).copy()
        if source == "popular_category":
            share = snap.user_category_share[rows].toarray()
            return share[:, snap.item_category] * (1.0 + popularity)
        raise KeyError(source)

    def sparse_scores(self, source: str, rows: np.ndarray) -> sp.csr_matrix:
        """``scores`` of a source in ``SPARSE_SOURCES`` before densifying (csr)."""
        base = self.snapshot.recent if source == "covisit" else self.history.matrix
        return sp.csr_matrix(base[rows] @ self.item_to_item(source))

    def item_to_item(self, source: str):
        return {"itemknn": self.itemknn, "ease": self.ease, "covisit": self.covisit}[source]

    def seed_items(self, source: str, user_rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """For each (user, item) pair, the history item that contributed most to ``source``'s
        score (-1 when none did): the "because you viewed X" of an explanation."""
        weights = self.item_to_item(source)
        base = self.snapshot.recent if source == "covisit" else self.history.matrix
        user_rows, items = np.asarray(user_rows), np.asarray(items)
        seeds = np.full(len(items), -1, dtype=np.int64)
        # one lookup per user (all of that user's pairs at once), not one per pair
        order = np.argsort(user_rows, kind="stable")
        starts = np.flatnonzero(np.r_[True, user_rows[order][1:] != user_rows[order][:-1]])
        for begin, end in zip(starts, np.r_[starts[1:], len(order)], strict=True):
            pairs = order[begin:end]
            row = user_rows[pairs[0]]
            start, stop = base.indptr[row], base.indptr[row + 1]
            hist, values = base.indices[start:stop], base.data[start:stop]
            if len(hist) == 0:
                continue
            if sp.issparse(weights):
                block = weights[hist][:, items[pairs]].toarray()
            else:
                block = weights[np.ix_(hist, items[pairs])]
            contribution = values[:, None] * block
            best = np.argmax(contribution, axis=0)
            top = contribution[best, np.arange(len(pairs))]
            seeds[pairs] = np.where(top > 0, hist[best], -1)
        return seeds


@dataclass
class Candidates:
    """The union of the sources' top-N for a batch of users, one row per (user, item) pair.

    ``user`` indexes the batch; pairs are sorted by user then item. ``source_scores`` and
    ``source_ranks`` have one column per ``SOURCES`` entry (NaN: not proposed by it).
    ``lists`` keeps each source's own top-N (item indices, -1 padded) for recall.
    """

    user: np.ndarray
    item: np.ndarray
    source_scores: np.ndarray
    source_ranks: np.ndarray
    lists: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.item)


def generate_candidates(
    sources: CandidateSources, rows: np.ndarray, exclude_seen: bool = True
) -> Candidates:
    """The candidate union for history rows ``rows`` (items seen before are left out unless
    ``exclude_seen`` is false, as in the evaluation protocol)."""
    rows = np.asarray(rows, dtype=np.int64)
    n_items = sources.history.shape[1]
    seen = sources.history.matrix[rows]
    seen_r, seen_c = seen.nonzero()
    lists, keys = {}, []
    for source in sources.active:
        if source in SPARSE_SOURCES and n_items >= SPARSE_MIN_ITEMS:  # rank the nonzeros only
            exclude = seen if exclude_seen else None
            idx, values = _top_of_rows(
                sources.sparse_scores(source, rows), sources.sizes[source], exclude
            )
        elif source == "popular_recent" and n_items >= SPARSE_MIN_ITEMS:  # one shared order
            idx, values = _top_of_one_order(sources, rows, seen if exclude_seen else None)
        else:
            scores = sources.scores(source, rows).astype(np.float32, copy=False)
            if exclude_seen:
                scores[seen_r, seen_c] = -np.inf
            scores[~np.isfinite(scores)] = -np.inf
            scores[scores <= 0] = -np.inf  # no signal is no candidate
            idx, values = top_k(scores, sources.sizes[source])
        lists[source] = (idx, values)
        r, c = np.nonzero(idx >= 0)
        keys.append(r.astype(np.int64) * n_items + idx[r, c])
    union = np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    source_scores = np.full((len(union), len(SOURCES)), np.nan, dtype=np.float32)
    source_ranks = np.full((len(union), len(SOURCES)), np.nan, dtype=np.float32)
    for source, (idx, values) in lists.items():
        j = SOURCES.index(source)
        r, c = np.nonzero(idx >= 0)
        position = np.searchsorted(union, r.astype(np.int64) * n_items + idx[r, c])
        source_scores[position, j] = values[r, c]
        source_ranks[position, j] = c + 1
    return Candidates(
        user=(union // n_items).astype(np.int64),
        item=(union % n_items).astype(np.int64),
        source_scores=source_scores,
        source_ranks=source_ranks,
        lists={source: idx for source, (idx, _) in lists.items()},
    )


# Sources whose scores are a sparse product (history × item-to-item weights): most items score
# 0 for a user, so their top N come from the nonzeros of each row, not a dense row.
SPARSE_SOURCES: tuple[str, ...] = ("itemknn", "covisit")
# Below this catalogue size a dense row is cheaper than a loop over rows (measured: 2.5 s
# against 1.0 s for 3,477 users × 2,000 items; 100,000 items the other way round).
SPARSE_MIN_ITEMS = 20_000


def _kept(values: np.ndarray, cols: np.ndarray, seen: np.ndarray | None) -> np.ndarray:
    """What the dense path keeps of a row: finite, positive and (if given) not seen."""
    keep = np.isfinite(values) & (values > 0)
    if seen is not None and len(seen):
        keep &= ~np.isin(cols, seen)
    return keep


def _top_of_rows(
    scores: sp.csr_matrix, n: int, seen: sp.csr_matrix | None
) -> tuple[np.ndarray, np.ndarray]:
    """``top_k`` of the dense rows with unseen, non-positive and non-finite entries excluded,
    from the stored entries only (the same indices, values and tie order)."""
    idx = np.full((scores.shape[0], n), -1, dtype=np.int64)
    best = np.full((scores.shape[0], n), -np.inf, dtype=np.float32)
    data = scores.data.astype(np.float32, copy=False)
    for r in range(scores.shape[0]):
        lo, hi = scores.indptr[r], scores.indptr[r + 1]
        cols, values = scores.indices[lo:hi], data[lo:hi]
        user_seen = seen.indices[seen.indptr[r] : seen.indptr[r + 1]] if seen is not None else None
        keep = _kept(values, cols, user_seen)
        cols, values = cols[keep], values[keep]
        if len(values) > n:  # only the values at or above the n-th best can make the list
            at_least = values >= np.partition(values, len(values) - n)[len(values) - n]
            cols, values = cols[at_least], values[at_least]
        order = np.lexsort((cols, -values))[:n]
        idx[r, : len(order)] = cols[order]
        best[r, : len(order)] = values[order]
    return idx, best


def _top_of_one_order(
    sources: CandidateSources, rows: np.ndarray, seen: sp.csr_matrix | None
) -> tuple[np.ndarray, np.ndarray]:
    """``popular_recent``'s top N per user: one catalogue order, each user's seen items left out."""
    n = sources.sizes["popular_recent"]
    values = sources.scores("popular_recent", np.arange(1))[0].astype(np.float32)
    items = np.arange(len(values))
    keep = _kept(values, items, None)
    order = items[keep][np.lexsort((items[keep], -values[keep]))]
    idx = np.full((len(rows), n), -1, dtype=np.int64)
    best = np.full((len(rows), n), -np.inf, dtype=np.float32)
    for r in range(len(rows)):
        user_seen = seen.indices[seen.indptr[r] : seen.indptr[r + 1]] if seen is not None else []
        head = order[: n + len(user_seen)]
        if len(user_seen):
            head = head[~np.isin(head, user_seen)]
        head = head[:n]
        idx[r, : len(head)] = head
        best[r, : len(head)] = values[head]
    return idx, best


def per_user_recall(candidates: Candidates, targets: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Per-user recall of each source's list and of the union (``"union"``) over ``targets``
    (one row per batch user; NaN for users without targets)."""
    n_relevant = np.diff(targets.indptr).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            source: hits_matrix(idx, targets).sum(axis=1) / n_relevant
            for source, idx in candidates.lists.items()
        }
        found = np.asarray(targets[candidates.user, candidates.item]).ravel() > 0
        hits = np.bincount(candidates.user[found], minlength=len(n_relevant))
        out["union"] = hits / n_relevant
    sizes = np.bincount(candidates.user, minlength=len(n_relevant)).astype(np.float64)
    out["union_size"] = np.where(n_relevant > 0, sizes, np.nan)
    return out


def mean_recall(parts: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Means over users of ``per_user_recall`` results (of one or several batches):
    the union's recall is the ceiling of any ranker over these candidates."""
    if not parts:
        return {}
    out = {}
    for key in parts[0]:
        values = np.concatenate([part[key] for part in parts])
        values = values[~np.isnan(values)]
        out[key] = round(float(values.mean()), 6) if len(values) else 0.0
    return out
