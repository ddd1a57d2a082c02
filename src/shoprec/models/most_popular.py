"""Most-popular: the same ranking for everyone, by how many users interacted with an item."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender


class MostPopular(Recommender):
    """Scores each item by its number of distinct users (``measure="users"``) or by the sum
    of its interaction values (``measure="weight"``)."""

    name = "most_popular"

    def __init__(self, measure: str = "users") -> None:
        if measure not in ("users", "weight"):
            raise ValueError(f"most_popular.measure must be 'users' or 'weight', not {measure!r}")
        super().__init__(measure=measure)
        self.popularity = np.zeros(0, dtype=np.float32)

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        if self.params["measure"] == "users":
            self.popularity = train.item_user_counts().astype(np.float32)
        else:
            self.popularity = np.asarray(train.matrix.sum(axis=0), dtype=np.float32).ravel()

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity, (history.shape[0], len(self.popularity))).copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.popularity = state["popularity"]
