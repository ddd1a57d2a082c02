"""The sequential model as a ``Recommender``: vectors for ranking, the network for sessions.

Ranking a known user needs only NumPy: the user's vector (the network's state over their
events before the model's cut) against every item's vector. The user's last events are kept
too (``sequence_items`` / ``sequence_events``), so a service can append what the shopper just
did and ask the network for a fresh vector (:meth:`score_sequences`): recommendations follow
the session, not only what the nightly model saw. The network loads lazily, on first use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.config import SequentialParams
from shoprec.features.event_sequences import PAD
from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender

NETWORK_DIR = "network"


class SequentialRecommender(Recommender):
    name = "sequential"

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.user_embeddings = np.zeros((0, 0), dtype=np.float32)
        self.item_embeddings = np.zeros((0, 0), dtype=np.float32)
        self.sequence_items = np.zeros((0, 0), dtype=np.int32)
        self.sequence_events = np.zeros((0, 0), dtype=np.int8)
        self.network = None  # a fitted SASRec, when in memory
        self._network_dir: Path | None = None

    @classmethod
    def from_parts(
        cls,
        history: Interactions,
        user_embeddings: np.ndarray,
        item_embeddings: np.ndarray,
        sequences,
        network=None,
        **params,
    ) -> SequentialRecommender:
        if user_embeddings.shape[0] != history.shape[0] or len(sequences) != history.shape[0]:
            raise ValueError("one user vector and one sequence per history row are needed")
        if item_embeddings.shape[0] != history.shape[1]:
            raise ValueError("one item vector per catalogue item is needed")
        model = cls(**params)
        model.history = history
        model.user_embeddings = np.ascontiguousarray(user_embeddings, dtype=np.float32)
        model.item_embeddings = np.ascontiguousarray(item_embeddings, dtype=np.float32)
        model.sequence_items = np.asarray(sequences.items, dtype=np.int32)
        model.sequence_events = np.asarray(sequences.events, dtype=np.int8)
        model.network = network
        return model

    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None:
        raise NotImplementedError(
            "sequential is trained from events: use shoprec.training.sequential.fit_sequential"
        )

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError(
            "sequential scores known users by their vectors (score_users) or event "
            "sequences (score_sequences); an unordered history row has no sequence"
        )

    def score_users(self, user_rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.user_embeddings[user_rows] @ self.item_embeddings.T

    # -- sessions -----------------------------------------------------------------------
    def _require_network(self):
        if self.network is None:
            if self._network_dir is None:
                raise RuntimeError("sequential: this model was saved without its network")
            from shoprec.models.sequential.model import SASRec

            params = SequentialParams(**self.params)
            self.network = SASRec.load(self._network_dir, params)
        return self.network

    def session_sequences(
        self, user_rows: np.ndarray, items: list[list[int]], events: list[list[int]]
    ):
        """Each user's stored sequence with their session events (item indices, event codes)
        appended, cut to the model's length."""
        from shoprec.features.event_sequences import EventSequences

        length = self.sequence_items.shape[1]
        out_items = np.full((len(user_rows), length), PAD, dtype=np.int32)
        out_events = np.zeros((len(user_rows), length), dtype=np.int8)
        for i, row in enumerate(np.asarray(user_rows)):
            base_i = self.sequence_items[row] if row >= 0 else np.full(length, PAD, np.int32)
            base_e = self.sequence_events[row] if row >= 0 else np.zeros(length, np.int8)
            keep = base_i >= 0
            seq_i = np.concatenate([base_i[keep], np.asarray(items[i], dtype=np.int32)])
            seq_e = np.concatenate([base_e[keep], np.asarray(events[i], dtype=np.int8)])
            seq_i, seq_e = seq_i[-length:], seq_e[-length:]
            out_items[i, length - len(seq_i) :] = seq_i
            out_events[i, length - len(seq_e) :] = seq_e
        return EventSequences(np.asarray(user_rows).astype(str), out_items, out_events)

    def score_sequences(self, sequences) -> np.ndarray:
        """Scores ``(n, n_items)`` for event sequences (``EventSequences``), via the network."""
        vectors = self._require_network().user_vectors(sequences)
        return vectors @ self.item_embeddings.T

    # -- files --------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "user_embeddings": self.user_embeddings,
            "item_embeddings": self.item_embeddings,
            "sequence_items": self.sequence_items,
            "sequence_events": self.sequence_events,
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_embeddings = state["user_embeddings"]
        self.item_embeddings = state["item_embeddings"]
        self.sequence_items = state["sequence_items"]
        self.sequence_events = state["sequence_events"]

    def save(self, directory: str | Path) -> Path:
        directory = super().save(directory)
        if self.network is not None:
            self.network.save(directory / NETWORK_DIR)
        return directory

    @classmethod
    def _load(cls, directory: Path, meta: dict, mmap: bool = False) -> SequentialRecommender:
        model = super()._load(directory, meta, mmap)
        if (directory / NETWORK_DIR).is_dir():
            model._network_dir = directory / NETWORK_DIR
        return model
