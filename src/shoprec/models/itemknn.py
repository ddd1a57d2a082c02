"""ItemKNN: item-item cosine similarity with shrinkage, pruned to the top neighbours.

sim(i, j) = x_i · x_j / (‖x_i‖ ‖x_j‖ + shrinkage), where x_i is item i's column of the
interaction matrix; shrinkage damps similarities resting on few co-occurrences. A user's
score for j is the sum of sim(i, j) over the items i in the user's history, weighted by the
user's interaction values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender

_BLOCK_BYTES = 256 * 1024**2
SPARSE_ABOVE_ITEMS = 20_000  # larger catalogues: sparse co-occurrences instead of dense blocks
SPARSE_BLOCK_ITEMS = 10_000
FEW_USERS = 16  # up to this many users per call: score only the reachable items


def cosine_neighbours(matrix: sp.csr_matrix, neighbors: int, shrinkage: float) -> sp.csr_matrix:
    """Sparse (items × items) similarity keeping each target item's ``neighbors`` best sources.

    Computed in column blocks so that memory stays bounded for large catalogues.
    """
    x = sp.csc_matrix(matrix, dtype=np.float32)
    n_items = x.shape[1]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
    xt = x.T.tocsr()
    if n_items > SPARSE_ABOVE_ITEMS:
        return _sparse_cosine_neighbours(x, xt, norms, neighbors, shrinkage)
    block = max(1, min(n_items, _BLOCK_BYTES // max(1, 8 * n_items)))
    keep = min(neighbors, max(n_items - 1, 1))
    rows_out, cols_out, vals_out = [], [], []
    for start in range(0, n_items, block):
        stop = min(n_items, start + block)
        co = (xt @ x[:, start:stop]).toarray().astype(np.float64)  # items × block
        sim = co / (norms[:, None] * norms[None, start:stop] + shrinkage + 1e-12)
        sim[np.arange(start, stop), np.arange(stop - start)] = 0.0  # no self-similarity
        if keep < n_items:
            top = np.argpartition(-sim, keep - 1, axis=0)[:keep]
        else:
            top = np.broadcast_to(np.arange(n_items)[:, None], sim.shape)
        vals = np.take_along_axis(sim, top, axis=0)
        nz = vals > 0
        rows_out.append(top[nz])
        cols_out.append(np.broadcast_to(np.arange(start, stop), top.shape)[nz])
        vals_out.append(vals[nz])
    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(cols_out) if cols_out else np.zeros(0, dtype=np.int64)
    vals = np.concatenate(vals_out) if vals_out else np.zeros(0)
    similarity = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(n_items, n_items))
    similarity.sort_indices()
    return similarity


def _sparse_cosine_neighbours(
    x: sp.csc_matrix, xt: sp.csr_matrix, norms: np.ndarray, neighbors: int, shrinkage: float
) -> sp.csr_matrix:
    """The same similarity without dense item × block arrays: only co-occurring pairs are ever
    materialised, so a 100,000-item catalogue costs its co-occurrences, not items². Equal to the
    dense path except for the order among exactly tied values at the cut (lower index wins)."""
    n_items = x.shape[1]
    rows_out, cols_out, vals_out = [], [], []
    for start in range(0, n_items, SPARSE_BLOCK_ITEMS):
        stop = min(n_items, start + SPARSE_BLOCK_ITEMS)
        co = (xt @ x[:, start:stop]).tocsc()
        co.sort_indices()
        lengths = np.diff(co.indptr)
        rows = co.indices.astype(np.int64)
        cols = np.repeat(np.arange(start, stop), lengths)
        vals = co.data.astype(np.float64) / (norms[rows] * norms[cols] + shrinkage + 1e-12)
        vals[rows == cols] = 0.0  # no self-similarity
        take = _top_in_columns(rows, cols - start, vals, co.indptr, neighbors)
        take = take[vals[take] > 0]
        rows_out.append(rows[take])
        cols_out.append(cols[take])
        vals_out.append(vals[take])
    similarity = sp.csr_matrix(
        (
            np.concatenate(vals_out).astype(np.float32),
            (np.concatenate(rows_out), np.concatenate(cols_out)),
        ),
        shape=(n_items, n_items),
    )
    similarity.sort_indices()
    return similarity


def _top_in_columns(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, indptr: np.ndarray, neighbors: int
) -> np.ndarray:
    """Positions of each column's ``neighbors`` largest values, ties to the lower row: the
    first ``neighbors`` of each column in ``lexsort((rows, -vals, cols))`` order. Entries
    below a column's ``neighbors``-th largest value cannot be among them, so they are dropped
    first (one ``np.partition`` per long column) and only the rest is sorted: a popular
    item's column holds tens of thousands of co-occurrences, and sorting them all was most
    of ItemKNN's time on large catalogues."""
    keep = np.ones(len(vals), dtype=bool)
    for j in np.flatnonzero(np.diff(indptr) > neighbors):
        column = vals[indptr[j] : indptr[j + 1]]
        cut = np.partition(column, len(column) - neighbors)[len(column) - neighbors]
        keep[indptr[j] : indptr[j + 1]] = column >= cut
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((rows[kept], -vals[kept], cols[kept]))]
    sizes = np.bincount(cols[kept], minlength=len(indptr) - 1)
    rank = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return order[rank < neighbors]


class ItemKNN(Recommender):
    name = "itemknn"

    def __init__(self, neighbors: int = 100, shrinkage: float = 10.0) -> None:
        super().__init__(neighbors=int(neighbors), shrinkage=float(shrinkage))
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        self.similarity = cosine_neighbours(
            train.matrix, self.params["neighbors"], self.params["shrinkage"]
        )

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return (history @ self.similarity).toarray()

    def recommend_indices(
        self,
        user_rows: np.ndarray,
        k: int,
        exclude_seen: bool = True,
        batch_size: int = 2048,
    ) -> tuple[np.ndarray, np.ndarray]:
        """For a handful of users (one service request) only the items reachable through
        neighbours are scored, without a catalogue-wide array; the result equals the dense
        path's, including its order among ties (lower index first) and its zero-score filler."""
        user_rows = np.asarray(user_rows, dtype=np.int64)
        if len(user_rows) > FEW_USERS:
            return super().recommend_indices(user_rows, k, exclude_seen, batch_size)
        history = self._require_fitted().matrix
        n_items = history.shape[1]
        out_idx = np.full((len(user_rows), k), -1, dtype=np.int64)
        out_scores = np.full((len(user_rows), k), -np.inf, dtype=np.float32)
        for r, row in enumerate(user_rows):
            own = history[row]
            reached = (own @ self.similarity).tocsr()
            seen = own.indices if exclude_seen else np.zeros(0, dtype=own.indices.dtype)
            items, values = reached.indices, reached.data.astype(np.float32)
            keep = (values > 0) & ~np.isin(items, seen)
            items, values = items[keep], values[keep]
            if len(values) > k:  # popular items reach much of the catalogue: cut before sorting
                kth_best = -np.partition(-values, k - 1)[k - 1]
                near = values >= kth_best  # keeps every tie at the cut
                items, values = items[near], values[near]
            order = np.lexsort((items, -values))[:k]
            chosen, scores = items[order].astype(np.int64), values[order]
            if len(chosen) < k:  # the dense path fills with zero scores, lowest index first
                taken = np.union1d(chosen, seen)
                limit = min(n_items, k + len(taken))
                filler = np.setdiff1d(np.arange(limit), taken)[: k - len(chosen)]
                chosen = np.concatenate([chosen, filler])
                scores = np.concatenate([scores, np.zeros(len(filler), dtype=np.float32)])
            out_idx[r, : len(chosen)] = chosen
            out_scores[r, : len(chosen)] = scores
        return out_idx, out_scores

    def _state(self) -> dict[str, sp.spmatrix]:
        return {"similarity": self.similarity}

    def _set_state(self, state: dict[str, sp.spmatrix]) -> None:
        self.similarity = state["similarity"]
