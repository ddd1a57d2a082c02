"""``build_interactions`` from partial sums, for events held as day partitions.

Each run of days (one task, a Dask task when there is a client) sums its events' weights per
(user, item) into a sparse matrix over its own users and items; the partial matrices are
re-indexed to the whole history's ids (users sorted, the catalogue then the unknown items,
as ``build_interactions`` orders them), added up, and transformed once. Only the partial sums
travel: a run holds one run's events, the caller the matrix being built. The result equals
``build_interactions`` on the concatenated events (same ids in the same order; the values are
sums in another order, equal to within rounding, exactly for the default integer weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.compute import fan_out
from shoprec.data.partitions import read_run
from shoprec.features.interactions import Interactions, finished_interactions

if TYPE_CHECKING:
    from distributed import Client


@dataclass
class PartialSums:
    """The summed event weights of one run: ``matrix[i, j]`` for ``users[i]``, ``items[j]``."""

    users: np.ndarray  # unique user ids of the run (str), events of weight 0 included
    items: np.ndarray  # unique item ids of the run (str)
    matrix: sp.csr_matrix  # float64


def partial_sums(paths: Sequence[str], event_weights: dict[str, float]) -> PartialSums:
    """Task: one run's weights per (user, item)."""
    events = read_run(paths, columns=["user_id", "item_id", "event_type"])
    user_ids = events["user_id"].astype(str)
    item_ids = events["item_id"].astype(str)
    users = pd.Index(user_ids.unique())
    items = pd.Index(item_ids.unique())
    weights = events["event_type"].map(event_weights).fillna(0.0).to_numpy(dtype=np.float64)
    keep = weights > 0
    rows = users.get_indexer(user_ids)[keep]
    cols = items.get_indexer(item_ids)[keep]
    matrix = sp.coo_matrix((weights[keep], (rows, cols)), shape=(len(users), len(items))).tocsr()
    matrix.sum_duplicates()
    return PartialSums(users.to_numpy(dtype=str), items.to_numpy(dtype=str), matrix)


def run_partial_sums(
    runs: Sequence[Sequence[str]],
    event_weights: dict[str, float],
    client: Client | None = None,
) -> list[PartialSums]:
    """``partial_sums`` of each run (``DayPartitions.runs``), as Dask tasks with a client."""
    return fan_out(client, partial_sums, [list(r) for r in runs], event_weights=event_weights)


def combine_partial_sums(
    partials: Sequence[PartialSums],
    catalogue_item_ids: np.ndarray | pd.Series,
    transform: str = "log1p",
) -> Interactions:
    """The interaction matrix of all the runs' events: ``build_interactions``' result."""
    catalogue = pd.Index(np.asarray(catalogue_item_ids, dtype=str)).unique()
    none = [np.array([], dtype=str)]  # no runs: an empty history, as build_interactions gives
    seen_items = np.unique(np.concatenate([p.items for p in partials] or none))
    extra = pd.Index(seen_items).difference(catalogue)
    item_index = catalogue.append(extra.sort_values())
    user_index = pd.Index(np.unique(np.concatenate([p.users for p in partials] or none)))

    shape = (len(user_index), len(item_index))
    summed = sp.csr_matrix(shape, dtype=np.float64)
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k, part in enumerate(partials):
        cells = part.matrix.tocoo()
        rows = user_index.get_indexer(part.users)[cells.row]
        cols = item_index.get_indexer(part.items)[cells.col]
        pending.append((cells.data, rows, cols))
        # fold the pending cells in once they outnumber the sum: linear work, bounded memory
        if sum(len(c[0]) for c in pending) > summed.nnz or k == len(partials) - 1:
            data, rows, cols = (np.concatenate(a) for a in zip(*pending, strict=True))
            summed = summed + sp.coo_matrix((data, (rows, cols)), shape=shape).tocsr()
            pending.clear()
    return finished_interactions(summed, user_index, item_index, transform)


__all__ = ["PartialSums", "combine_partial_sums", "partial_sums", "run_partial_sums"]
