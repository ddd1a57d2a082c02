"""EASE (Steck 2019): a closed-form linear item-item model with a zero diagonal.

B = I − P · diag(1 / diag(P)), P = (XᵀX + λI)⁻¹. It is strong on implicit feedback and
needs a dense items × items inverse, so ``max_items`` guards against catalogues where that
would not fit in memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from shoprec.errors import ConfigError
from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender


class EASE(Recommender):
    name = "ease"

    def __init__(self, l2: float = 500.0, max_items: int = 30000) -> None:
        super().__init__(l2=float(l2), max_items=int(max_items))
        self.weights = np.zeros((0, 0), dtype=np.float32)

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        n_items = train.shape[1]
        if n_items > self.params["max_items"]:
            raise ConfigError(
                f"ease: {n_items} items exceed models.ease.max_items={self.params['max_items']} "
                f"(EASE needs a dense {n_items}×{n_items} matrix); raise it or drop EASE"
            )
        x = sp.csr_matrix(train.matrix, dtype=np.float64)
        gram = (x.T @ x).toarray()
        gram[np.diag_indices(n_items)] += self.params["l2"]
        inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        weights = inverse / (-np.diag(inverse))
        weights[np.diag_indices(n_items)] = 0.0
        self.weights = weights.astype(np.float32)

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history @ self.weights)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights = state["weights"]
