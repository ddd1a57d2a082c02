"""Full-ranking top-K metrics, vectorised over users.

The evaluation works on two arrays:

- ``recommended``: an integer array ``(n_users, k_max)`` of item indices in rank order,
  best first. ``-1`` pads a list that is shorter than ``k_max`` and is never a hit.
- ``targets``: a sparse ``(n_users, n_items)`` CSR matrix whose nonzero entries are the
  items relevant to each user (their test-period interactions).

``hits_matrix`` turns them into a boolean ``(n_users, k_max)`` matrix; ``user_metrics``
turns that into one value per user for each metric and cut-off K, so that the caller can
average them, cut them by segment, or bootstrap them (``shoprec.evaluation.bootstrap``).
``novelty`` and ``coverage`` look only at the recommendations and the training popularity.

Ranks are 1-based throughout: the first item of a list has rank 1.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = [
    "coverage",
    "hits_matrix",
    "novelty",
    "relevant_counts",
    "user_metrics",
]

#: Bytes of scratch memory ``hits_matrix`` uses for its per-chunk relevance bitmap.
_BITMAP_BYTES = 32 * 1024 * 1024


def _as_csr(targets: sp.spmatrix | sp.sparray) -> sp.csr_matrix | sp.csr_array:
    """``targets`` as CSR without duplicate entries or stored zeros (copied only if needed)."""
    if not sp.issparse(targets):
        raise ValueError(f"targets must be a scipy.sparse matrix, got {type(targets).__name__}")
    if targets.ndim != 2:
        raise ValueError(f"targets must be 2-D, got shape {targets.shape}")
    csr = targets.tocsr()
    if not csr.has_canonical_format or not np.all(csr.data != 0):
        csr = csr.copy()
        csr.sum_duplicates()
        csr.eliminate_zeros()
    return csr


def _as_recommended(recommended: np.ndarray, n_items: int | None = None) -> NDArray[np.int64]:
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2-D (n_users, k_max), got shape {rec.shape}")
    if not np.issubdtype(rec.dtype, np.integer):
        raise ValueError(f"recommended must hold integer item indices, got dtype {rec.dtype}")
    if rec.size:
        low, high = int(rec.min()), int(rec.max())
        if low < -1:
            raise ValueError(f"recommended holds {low}; the only negative value allowed is -1")
        if n_items is not None and high >= n_items:
            raise ValueError(f"recommended holds item {high}, but there are only {n_items} items")
    return rec.astype(np.int64, copy=False)


def _as_ks(ks: Iterable[int], k_max: int) -> list[int]:
    """Validated, de-duplicated cut-offs in the caller's order."""
    out: list[int] = []
    for k in ks:
        k = operator.index(k)
        if k < 1:
            raise ValueError(f"K must be at least 1, got {k}")
        if k > k_max:
            raise ValueError(f"K={k} is larger than the {k_max} recommendations per user")
        if k not in out:
            out.append(k)
    if not out:
        raise ValueError("ks is empty: give at least one cut-off K")
    return out


def relevant_counts(targets: sp.spmatrix | sp.sparray) -> NDArray[np.int64]:
    """Number of relevant items per user: distinct nonzero columns of each row of ``targets``.

    This is the ``n_relevant`` that ``user_metrics`` expects, counted the same way
    ``hits_matrix`` reads ``targets`` (duplicates summed, stored zeros not relevant).
    """
    csr = _as_csr(targets)
    return np.diff(csr.indptr).astype(np.int64)


def hits_matrix(recommended: np.ndarray, targets: sp.spmatrix | sp.sparray) -> NDArray[np.bool_]:
    """Boolean ``(n_users, k_max)`` matrix: is ``recommended[u, r]`` relevant to user ``u``?

    ``recommended`` holds item indices in rank order, ``-1`` for "no item" (never a hit).
    ``targets`` is an ``(n_users, n_items)`` sparse matrix (CSR preferred) whose nonzero
    entries mark relevant items; it is never densified. Rows are processed in chunks: each
    chunk's relevant items are written into a flat boolean bitmap of ``rows x n_items``
    (bounded to ~32 MB), the recommendations are looked up in it with one ``take``, and the
    bitmap is cleared again, so the cost is O(n_users * k_max + nnz).

    Raises ``ValueError`` if the shapes disagree or an index is outside ``[-1, n_items)``.
    """
    csr = _as_csr(targets)
    n_users, n_items = csr.shape
    rec = _as_recommended(recommended, n_items)
    if rec.shape[0] != n_users:
        raise ValueError(f"recommended has {rec.shape[0]} users (rows) but targets has {n_users}")
    k_max = rec.shape[1]
    hits = np.zeros(rec.shape, dtype=bool)
    if n_users == 0 or k_max == 0 or csr.nnz == 0:
        return hits

    indptr = csr.indptr.astype(np.int64, copy=False)
    indices = csr.indices.astype(np.int64, copy=False)
    chunk = max(1, min(n_users, _BITMAP_BYTES // max(1, n_items)))
    bitmap = np.zeros(chunk * n_items, dtype=bool)
    for start in range(0, n_users, chunk):
        stop = min(n_users, start + chunk)
        offsets = np.arange(stop - start, dtype=np.int64) * n_items
        lo, hi = indptr[start], indptr[stop]
        keys = np.repeat(offsets, np.diff(indptr[start : stop + 1])) + indices[lo:hi]
        bitmap[keys] = True
        block = rec[start:stop]
        valid = block >= 0
        # -1 padding is looked up at a harmless in-range position, then masked out.
        queries = np.where(valid, block, 0) + offsets[:, None]
        np.take(bitmap, queries, out=hits[start:stop], mode="clip")
        hits[start:stop] &= valid
        bitmap[keys] = False
    return hits


def user_metrics(
    hits: np.ndarray, n_relevant: np.ndarray, ks: Iterable[int]
) -> dict[str, NDArray[np.float64]]:
    """Per-user ranking metrics at each cut-off K.

    ``hits`` is the boolean ``(n_users, k_max)`` matrix from ``hits_matrix``; ``n_relevant``
    the number of relevant items of each user (``relevant_counts``), at least 1 for every
    user (the caller drops users without targets). With ``h_r`` = 1 if the item at rank
    ``r`` is relevant, else 0, and ``R`` = ``n_relevant``:

    - ``precision@K`` = sum_{r<=K} h_r / K
    - ``recall@K``    = sum_{r<=K} h_r / R
    - ``ndcg@K``      = DCG@K / IDCG@K, DCG@K = sum_{r<=K} h_r / log2(r + 1),
      IDCG@K = sum_{r<=min(R, K)} 1 / log2(r + 1) (binary gains, all relevant items first)
    - ``hitrate@K``   = 1 if sum_{r<=K} h_r > 0 else 0
    - ``map@K``       = sum_{r<=K} h_r * precision@r / min(R, K)
    - ``mrr@K``       = 1 / (rank of the first hit) if it is <= K, else 0

    Returns float64 arrays of length ``n_users`` keyed ``"<metric>@<K>"``, metrics in the
    order above, K in the order given (duplicates dropped).

    Raises ``ValueError`` if a user has ``n_relevant < 1``, a K is below 1 or above
    ``k_max``, the shapes disagree, or a user has more hits than relevant items (which
    means the recommendation list repeats an item).
    """
    hits = np.asarray(hits)
    if hits.ndim != 2:
        raise ValueError(f"hits must be 2-D (n_users, k_max), got shape {hits.shape}")
    if hits.dtype != np.bool_:
        raise ValueError(f"hits must be a boolean array, got dtype {hits.dtype}")
    n_users, k_max = hits.shape
    ks = _as_ks(ks, k_max)
    n_rel = np.asarray(n_relevant)
    if n_rel.shape != (n_users,):
        raise ValueError(f"n_relevant must have shape ({n_users},), got {n_rel.shape}")
    if not np.issubdtype(n_rel.dtype, np.integer) and not (
        np.all(np.isfinite(n_rel)) and np.array_equal(n_rel, np.round(n_rel))
    ):
        raise ValueError("n_relevant must hold whole numbers")
    n_rel = n_rel.astype(np.int64)
    if n_users and n_rel.min() < 1:
        bad = int(np.count_nonzero(n_rel < 1))
        raise ValueError(
            f"{bad} user(s) have no relevant items (n_relevant < 1); filter them out first"
        )

    depth = max(ks)
    h = hits[:, :depth]
    cum_hits = np.cumsum(h, axis=1, dtype=np.int64)  # hits in top r, r = 1..depth
    if n_users and np.any(cum_hits[:, -1] > n_rel):
        raise ValueError("a user has more hits than relevant items: are items repeated in a list?")
    ranks = np.arange(1, depth + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    dcg = np.cumsum(h * discount, axis=1)
    ideal_dcg = np.cumsum(discount)
    ap_sum = np.cumsum(np.where(h, cum_hits / ranks, 0.0), axis=1)
    any_hit = h.any(axis=1)
    first_rank = np.where(any_hit, np.argmax(h, axis=1) + 1, depth + 1)

    out: dict[str, NDArray[np.float64]] = {}
    for k in ks:
        n_hits = cum_hits[:, k - 1].astype(np.float64)
        ideal = np.minimum(n_rel, k)
        out[f"precision@{k}"] = n_hits / k
        out[f"recall@{k}"] = n_hits / n_rel
        out[f"ndcg@{k}"] = dcg[:, k - 1] / ideal_dcg[ideal - 1]
        out[f"hitrate@{k}"] = (n_hits > 0).astype(np.float64)
        out[f"map@{k}"] = ap_sum[:, k - 1] / ideal
        out[f"mrr@{k}"] = np.where(first_rank <= k, 1.0 / first_rank, 0.0)
    # Order keys metric-major (precision@1, precision@5, ..., recall@1, ...).
    names = ("precision", "recall", "ndcg", "hitrate", "map", "mrr")
    return {f"{m}@{k}": out[f"{m}@{k}"] for m in names for k in ks}


def novelty(
    recommended: np.ndarray,
    item_popularity: np.ndarray,
    n_users: int,
    ks: Iterable[int],
) -> dict[str, NDArray[np.float64]]:
    """Per-user mean self-information of the top-K recommended items.

    ``item_popularity[i]`` is the number of training users who interacted with item ``i``
    and ``n_users`` the number of training users; an item's self-information is
    ``-log2(p_i)`` with ``p_i = (item_popularity[i] + 1) / (n_users + 1)`` (add-one
    smoothing, so unseen items are finite and an item every user saw scores 0).
    ``novelty@K`` of a user is the mean over the non-padding items in their top K; a user
    whose top K holds no item at all (only ``-1``) gets 0.

    Returns float64 arrays of length ``len(recommended)`` keyed ``"novelty@<K>"``.
    """
    pop = np.asarray(item_popularity)
    if pop.ndim != 1:
        raise ValueError(f"item_popularity must be 1-D, got shape {pop.shape}")
    n_users = operator.index(n_users)
    if n_users < 0:
        raise ValueError(f"n_users must be non-negative, got {n_users}")
    if pop.size and (pop.min() < 0 or pop.max() > n_users):
        raise ValueError(
            f"item_popularity must lie in [0, n_users={n_users}] (users per item), "
            f"got values in [{pop.min()}, {pop.max()}]"
        )
    rec = _as_recommended(recommended, pop.size)
    ks = _as_ks(ks, rec.shape[1])
    depth = max(ks)
    rec = rec[:, :depth]

    self_info = np.log2(n_users + 1.0) - np.log2(pop.astype(np.float64) + 1.0)
    valid = rec >= 0
    if pop.size:
        info = np.where(valid, self_info[np.where(valid, rec, 0)], 0.0)
    else:  # no items: every entry is padding
        info = np.zeros(rec.shape)
    cum_info = np.cumsum(info, axis=1)
    cum_count = np.cumsum(valid, axis=1, dtype=np.int64)
    out: dict[str, NDArray[np.float64]] = {}
    for k in ks:
        count = cum_count[:, k - 1]
        out[f"novelty@{k}"] = np.where(count > 0, cum_info[:, k - 1] / np.maximum(count, 1), 0.0)
    return out


def coverage(recommended: np.ndarray, n_items: int, ks: Iterable[int]) -> dict[str, float]:
    """Catalogue coverage: share of the ``n_items`` items in at least one user's top K.

    Padding (``-1``) is ignored. Returns ``{"coverage@<K>": share}`` with shares in [0, 1].
    """
    n_items = operator.index(n_items)
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    rec = _as_recommended(recommended, n_items)
    ks = _as_ks(ks, rec.shape[1])
    seen = np.zeros(n_items, dtype=bool)
    done = 0
    shares: dict[int, float] = {}
    for k in sorted(ks):  # each column is scanned once
        block = rec[:, done:k]
        seen[block[block >= 0]] = True
        done = k
        shares[k] = float(np.count_nonzero(seen)) / n_items
    return {f"coverage@{k}": shares[k] for k in ks}
