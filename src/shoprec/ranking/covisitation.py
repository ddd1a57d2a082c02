"""Item co-visitation within sessions: items that shoppers look at or buy in the same visit.

A session is the events of one user with the same ``session_id`` when the data has one (an
invoice in Online Retail), else a run of events with no gap longer than ``session_gap_minutes``.
The similarity is ItemKNN's shrunk cosine computed on the session × item matrix instead of the
user × item matrix: "bought together" rather than "bought by the same people".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.models.itemknn import cosine_neighbours


def session_numbers(events: pd.DataFrame, session_gap_minutes: float) -> np.ndarray:
    """A session number for every row of ``events`` (any order), consistent across rows."""
    if events.empty:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((events["timestamp"].to_numpy(), events["user_id"].to_numpy(dtype=str)))
    ordered = events.iloc[order]
    user = ordered["user_id"].to_numpy(dtype=str)
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = user[1:] != user[:-1]
    if "session_id" in ordered.columns and ordered["session_id"].notna().any():
        sid = ordered["session_id"].astype("string").fillna("").to_numpy(dtype=str)
        new[1:] |= sid[1:] != sid[:-1]
    else:
        gap = ordered["timestamp"].diff().dt.total_seconds().to_numpy()
        new[1:] |= ~(gap[1:] <= session_gap_minutes * 60.0)
    numbers = np.empty(len(ordered), dtype=np.int64)
    numbers[order] = np.cumsum(new) - 1
    return numbers


def covisitation(
    events: pd.DataFrame,
    catalogue_ids: np.ndarray,
    session_gap_minutes: float = 30.0,
    neighbors: int = 100,
    shrinkage: float = 10.0,
) -> sp.csr_matrix:
    """Items × items similarity of co-occurrence in sessions, pruned to the best ``neighbors``."""
    n_items = len(catalogue_ids)
    cols = pd.Index(catalogue_ids).get_indexer(events["item_id"].to_numpy(dtype=str))
    sessions = session_numbers(events, session_gap_minutes)
    known = cols >= 0
    if not known.any():
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    n_sessions = int(sessions.max()) + 1
    matrix = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (sessions[known], cols[known])),
        shape=(n_sessions, n_items),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return cosine_neighbours(matrix, neighbors, shrinkage)
