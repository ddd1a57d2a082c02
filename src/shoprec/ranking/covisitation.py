"""Item co-visitation within sessions: items that shoppers look at or buy in the same visit.

A session is the events of one user with the same ``session_id`` when the data has one (an
invoice in Online Retail), else a run of events with no gap longer than ``session_gap_minutes``.
The similarity is ItemKNN's shrunk cosine computed on the session × item matrix instead of the
user × item matrix: "bought together" rather than "bought by the same people".

Sessions are found on integer keys (``session_keys``: codes of the user and session ids, the
item's catalogue column, the time): 20 bytes an event, whatever the ids look like, so the
Dask engine can ship them to a worker and 50M events fit beside everything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.ids import positions_in
from shoprec.models.itemknn import cosine_neighbours


def session_keys(events: pd.DataFrame, catalogue_ids: np.ndarray) -> pd.DataFrame:
    """What co-visitation reads of ``events``, as integers: ``user`` (a code per user id),
    ``item`` (the catalogue column, -1: not in the catalogue), ``time`` (nanoseconds; a
    missing time is the largest), and ``session`` (a code per session id) when the data has
    session ids. Codes only say which rows share an id, as the ids themselves did."""
    stamps = pd.DatetimeIndex(events["timestamp"])
    if stamps.tz is not None:
        stamps = stamps.tz_convert(None)
    time = stamps.as_unit("ns").asi8.copy()
    time[stamps.isna()] = np.iinfo(np.int64).max
    keys = pd.DataFrame(
        {
            "user": pd.factorize(events["user_id"])[0].astype(np.int32),
            "item": positions_in(pd.Index(catalogue_ids), events["item_id"]).astype(np.int32),
            "time": time,
        }
    )
    if "session_id" in events.columns and events["session_id"].notna().any():
        codes, names = pd.factorize(events["session_id"])
        blank = np.flatnonzero(np.asarray(names, dtype=object) == "")
        if len(blank):  # a blank session id and a missing one are the same session
            codes[codes < 0] = blank[0]
        keys["session"] = codes.astype(np.int32)
    return keys


def session_numbers(events: pd.DataFrame, session_gap_minutes: float) -> np.ndarray:
    """A session number for every row of ``events`` (any order), consistent across rows."""
    return numbers_of_sessions(session_keys(events, np.zeros(0, dtype=str)), session_gap_minutes)


def numbers_of_sessions(keys: pd.DataFrame, session_gap_minutes: float) -> np.ndarray:
    """``session_numbers`` from ``session_keys``: each user's rows in time order (ties in row
    order), a new session at a new user, a new session id or a gap over the limit."""
    if keys.empty:
        return np.zeros(0, dtype=np.int64)
    time = keys["time"].to_numpy()
    order = np.lexsort((time, keys["user"].to_numpy()))
    user = keys["user"].to_numpy()[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = user[1:] != user[:-1]
    del user
    if "session" in keys.columns:
        session = keys["session"].to_numpy()[order]
        new[1:] |= session[1:] != session[:-1]
    else:
        ordered = time[order]
        missing = ordered == np.iinfo(np.int64).max
        new[1:] |= ~(np.diff(ordered) <= session_gap_minutes * 60e9) | missing[1:] | missing[:-1]
    numbers = np.empty(len(order), dtype=np.int64)
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
    keys = session_keys(events, catalogue_ids)
    return covisitation_of_keys(keys, len(catalogue_ids), session_gap_minutes, neighbors, shrinkage)


def covisitation_of_keys(
    keys: pd.DataFrame,
    n_items: int,
    session_gap_minutes: float = 30.0,
    neighbors: int = 100,
    shrinkage: float = 10.0,
) -> sp.csr_matrix:
    """``covisitation`` from ``session_keys`` (what a Dask worker is sent)."""
    cols = keys["item"].to_numpy()
    known = cols >= 0
    if not known.any():
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    sessions = numbers_of_sessions(keys, session_gap_minutes)[known]
    matrix = sp.csr_matrix(
        (np.ones(len(sessions), dtype=np.float32), (sessions, cols[known])),
        shape=(int(sessions.max()) + 1, n_items),
    )
    del sessions
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return cosine_neighbours(matrix, neighbors, shrinkage)
