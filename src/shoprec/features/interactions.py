"""The user × item interaction matrix with event-type weights, and its id maps.

Rows are the users with at least one event in the given history, columns are the whole
catalogue (so items never interacted with yet are still rankable, with an empty column).
Stored as ``matrix.npz`` (scipy sparse, no pickle) plus ``ids.npz`` (unicode arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.errors import DataError
from shoprec.ids import positions_in


@dataclass
class Interactions:
    """A CSR matrix (users × items, float32) with the ids behind its rows and columns."""

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def of_users(self, rows: np.ndarray) -> Interactions:
        """The history of the users at ``rows`` only, in that order (same catalogue)."""
        return Interactions(sp.csr_matrix(self.matrix[rows]), self.user_ids[rows], self.item_ids)

    @cached_property
    def _user_index(self) -> pd.Index:  # built once: hashing every id per lookup is costly
        return pd.Index(self.user_ids)

    @cached_property
    def _item_index(self) -> pd.Index:
        return pd.Index(self.item_ids)

    def user_positions(self, user_ids: np.ndarray | list[str] | pd.Series) -> np.ndarray:
        """Row index of each user id, -1 for users not in this history."""
        return positions_in(self._user_index, user_ids)

    def item_positions(self, item_ids: np.ndarray | list[str] | pd.Series) -> np.ndarray:
        """Column index of each item id, -1 for items not in the catalogue."""
        return positions_in(self._item_index, item_ids)

    def item_user_counts(self) -> np.ndarray:
        """How many distinct users interacted with each item (popularity)."""
        return np.diff(self.matrix.tocsc().indptr).astype(np.int64)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        sp.save_npz(directory / "matrix.npz", self.matrix, compressed=True)
        np.savez(directory / "ids.npz", user_ids=self.user_ids, item_ids=self.item_ids)

    @classmethod
    def load(cls, directory: str | Path) -> Interactions:
        directory = Path(directory)
        try:
            matrix = sp.load_npz(directory / "matrix.npz").tocsr()
            with np.load(directory / "ids.npz", allow_pickle=False) as ids:
                user_ids, item_ids = ids["user_ids"], ids["item_ids"]
        except FileNotFoundError as exc:
            raise DataError(f"{directory}: interaction features missing ({exc.filename})") from None
        return cls(matrix=matrix, user_ids=user_ids, item_ids=item_ids)


def transform_values(values: np.ndarray, transform: str) -> np.ndarray:
    """Turn summed event weights into matrix values."""
    if transform == "sum":
        return values
    if transform == "log1p":
        return np.log1p(values)
    if transform == "binary":
        return np.ones_like(values)
    raise ValueError(f"unknown transform {transform!r}")


def build_interactions(
    events: pd.DataFrame,
    catalogue_item_ids: np.ndarray | pd.Series,
    event_weights: dict[str, float],
    transform: str = "log1p",
) -> Interactions:
    """Aggregate ``events`` into a weighted user × item matrix over the given catalogue.

    Each event adds ``event_weights[event_type]`` to its (user, item) cell (event types with
    no weight add nothing); ``transform`` is applied to the sums. Items with events but not
    in the catalogue are appended as extra columns so that no interaction is lost.
    """
    catalogue = pd.Index(np.asarray(catalogue_item_ids, dtype=str)).unique()
    extra = pd.Index(events["item_id"].astype(str).unique()).difference(catalogue)
    item_index = catalogue.append(extra.sort_values())
    user_index = pd.Index(np.sort(events["user_id"].astype(str).unique()))

    weights = events["event_type"].map(event_weights).fillna(0.0).to_numpy(dtype=np.float64)
    rows = user_index.get_indexer(events["user_id"].astype(str))
    cols = item_index.get_indexer(events["item_id"].astype(str))
    keep = weights > 0
    summed = sp.coo_matrix(
        (weights[keep], (rows[keep], cols[keep])), shape=(len(user_index), len(item_index))
    ).tocsr()
    return finished_interactions(summed, user_index, item_index, transform)


def finished_interactions(
    summed: sp.csr_matrix, user_index: pd.Index, item_index: pd.Index, transform: str
) -> Interactions:
    """Summed weights (duplicates allowed) → the transformed, sorted float32 matrix with its
    id maps: the last step of ``build_interactions`` and of the partial sums on Dask."""
    summed.sum_duplicates()
    summed.eliminate_zeros()
    summed.data = transform_values(summed.data, transform).astype(np.float32)
    summed.sort_indices()
    return Interactions(
        matrix=summed.astype(np.float32),
        user_ids=user_index.to_numpy(dtype=str),
        item_ids=item_index.to_numpy(dtype=str),
    )
