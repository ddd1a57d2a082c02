"""Ranking by dot product of a user vector and an item vector (what the two-tower model exports).

Only NumPy arrays are kept (``user_embeddings``, ``item_embeddings``), so loading and scoring
need no TensorFlow; the Keras towers that made them are saved beside them (``tower/``) for
embedding new users and new items later.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender


class EmbeddingRecommender(Recommender):
    name = "two_tower"

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.user_embeddings = np.zeros((0, 0), dtype=np.float32)
        self.item_embeddings = np.zeros((0, 0), dtype=np.float32)
        self.tower = None  # the Keras two-tower model, when it is in memory

    @classmethod
    def from_embeddings(
        cls,
        history: Interactions,
        user_embeddings: np.ndarray,
        item_embeddings: np.ndarray,
        tower=None,
        **params,
    ) -> EmbeddingRecommender:
        if user_embeddings.shape[0] != history.shape[0]:
            raise ValueError("one user embedding per history row is needed")
        if item_embeddings.shape[0] != history.shape[1]:
            raise ValueError("one item embedding per catalogue item is needed")
        model = cls(**params)
        model.history = history
        model.user_embeddings = np.ascontiguousarray(user_embeddings, dtype=np.float32)
        model.item_embeddings = np.ascontiguousarray(item_embeddings, dtype=np.float32)
        model.tower = tower
        return model

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        raise NotImplementedError(
            "two_tower is trained from events: use shoprec.training.two_tower.fit_two_tower"
        )

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError("two_tower scores known users by their vectors (score_users)")

    def score_users(self, user_rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.user_embeddings[user_rows] @ self.item_embeddings.T

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_embeddings": self.user_embeddings, "item_embeddings": self.item_embeddings}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_embeddings = state["user_embeddings"]
        self.item_embeddings = state["item_embeddings"]

    def save(self, directory: str | Path) -> Path:
        directory = super().save(directory)
        if self.tower is not None:
            self.tower.save(directory / "tower")
        return directory
