"""The one protocol every recommender implements: fit, recommend, save, load.

A model keeps the interaction history it was fit on, so it can rank for any of those users
by id; ``score`` works on any history rows, which later lets a service score a fresh session.
Files are JSON metadata plus NumPy/SciPy arrays loaded with ``allow_pickle=False``: a model
comes from a registry and must not be able to run code when it is loaded.
"""

from __future__ import annotations

import json
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.errors import DataError
from shoprec.features.interactions import Interactions
from shoprec.io import memory_mapped_npz, memory_mapped_sparse

FORMAT_VERSION = 1
METADATA_FILE = "model.json"
HISTORY_DIR = "history"


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` best columns per row, best first.

    Columns scored ``-inf`` (excluded) are never returned: their slots hold index -1.
    Ties are broken by the lower item index, so results are deterministic.
    """
    n_rows, n_cols = scores.shape
    k_eff = min(k, n_cols)
    if np.isnan(scores).any():  # a NaN score ranks nowhere: treat it as excluded
        scores = np.where(np.isnan(scores), -np.inf, scores)
    if k_eff < n_cols:
        part = _best_columns(scores, k_eff)
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(part_scores, order, axis=1)
    idx = np.where(np.isneginf(best), -1, idx)
    if k_eff < k:
        idx = np.pad(idx, ((0, 0), (0, k - k_eff)), constant_values=-1)
        best = np.pad(best, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
    return idx, best.astype(np.float32)


def _best_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best columns per row (in index order, not ranked), ties at the cut going
    to the lower index; ``np.argpartition`` alone would pick among ties arbitrarily."""
    n_rows = scores.shape[0]
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # each row's k-th best value
    take = scores > kth
    need = k - take.sum(axis=1)  # how many of the values equal to the k-th best to take
    # A row with fewer than k finite scores ties at -inf with most of the catalogue; the lowest
    # -inf columns it needs lie in its first 2k columns, so look for its ties only there.
    short = np.isneginf(kth[:, 0]) & (need > 0)
    width = min(2 * k, scores.shape[1])
    for rows, block in (
        (np.flatnonzero(~short & (need > 0)), None),
        (np.flatnonzero(short), width),
    ):
        if len(rows) == 0:
            continue
        part = scores[rows] if block is None else scores[rows, :block]
        tie_rows, tie_cols = np.nonzero(part == kth[rows])  # row-major: lower index first
        rank_in_row = np.arange(len(tie_rows)) - np.searchsorted(tie_rows, tie_rows)
        keep = rank_in_row < need[rows][tie_rows]
        take[rows[tie_rows[keep]], tie_cols[keep]] = True
    return np.nonzero(take)[1].reshape(n_rows, k)


class Recommender(ABC):
    """Base class: subclasses implement ``_fit``, ``score`` and their array state."""

    name: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.history: Interactions | None = None

    # -- training -----------------------------------------------------------------------
    def fit(self, train: Interactions, items: pd.DataFrame | None = None) -> Recommender:
        """Learn from ``train`` (the interaction history); ``items`` is the catalogue."""
        self.history = train
        self._fit(train, items)
        return self

    @abstractmethod
    def _fit(self, train: Interactions, items: pd.DataFrame | None) -> None: ...

    @abstractmethod
    def score(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense scores (rows of ``history`` × catalogue items), higher is better."""

    def score_users(self, user_rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Scores for known users (their rows in the fitted history); by default from ``score``.

        Models that keep a vector per user (two-tower) override this.
        """
        return self.score(history)

    def ranking_scores(
        self, user_rows: np.ndarray, history: sp.csr_matrix, exclude_seen: bool
    ) -> np.ndarray:
        """What ``recommend_indices`` ranks by; seen items are masked after it. A model whose
        scores depend on whether seen items count (two-stage candidates) overrides this."""
        return self.score_users(user_rows, history)

    # -- ranking ------------------------------------------------------------------------
    def _require_fitted(self) -> Interactions:
        if self.history is None:
            raise RuntimeError(f"{self.name}: fit or load the model first")
        return self.history

    def recommend_indices(
        self,
        user_rows: np.ndarray,
        k: int,
        exclude_seen: bool = True,
        batch_size: int = 2048,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores for history rows ``user_rows`` (full ranking)."""
        history = self._require_fitted().matrix
        user_rows = np.asarray(user_rows, dtype=np.int64)
        out_idx = np.empty((len(user_rows), k), dtype=np.int64)
        out_scores = np.empty((len(user_rows), k), dtype=np.float32)
        for start in range(0, len(user_rows), batch_size):
            batch = user_rows[start : start + batch_size]
            rows = history[batch]
            scores = self.ranking_scores(batch, rows, exclude_seen).astype(np.float32, copy=False)
            if exclude_seen:
                seen_r, seen_c = rows.nonzero()
                scores[seen_r, seen_c] = -np.inf
            idx, best = top_k(scores, k)
            out_idx[start : start + len(idx)] = idx
            out_scores[start : start + len(idx)] = best
        return out_idx, out_scores

    def recommend(
        self, user_ids: list[str] | np.ndarray, k: int = 10, exclude_seen: bool = True
    ) -> pd.DataFrame:
        """A long table ``user_id, rank, item_id, score`` for known users."""
        history = self._require_fitted()
        rows = history.user_positions(user_ids)
        unknown = np.asarray(user_ids, dtype=str)[rows < 0]
        if len(unknown):
            shown = ", ".join(unknown[:5])
            raise DataError(f"{self.name}: {len(unknown)} unknown user id(s): {shown}")
        idx, scores = self.recommend_indices(rows, k, exclude_seen=exclude_seen)
        ranks = np.tile(np.arange(1, k + 1), len(rows))
        flat = idx.ravel()
        table = pd.DataFrame(
            {
                "user_id": np.repeat(np.asarray(user_ids, dtype=str), k),
                "rank": ranks,
                "item_id": np.where(flat >= 0, history.item_ids[np.maximum(flat, 0)], None),
                "score": scores.ravel(),
            }
        )
        return table[flat >= 0].reset_index(drop=True)

    # -- persistence --------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray | sp.spmatrix]:
        """Arrays (dense or sparse) that make up the fitted model."""
        return {}

    def _set_state(self, state: dict[str, np.ndarray | sp.spmatrix]) -> None:  # noqa: B027
        """Inverse of ``_state``; models without arrays keep the default (nothing)."""

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        history = self._require_fitted()
        history.save(directory / HISTORY_DIR)
        dense, sparse = {}, []
        for key, value in self._state().items():
            if sp.issparse(value):
                sp.save_npz(directory / f"{key}.npz", sp.csr_matrix(value), compressed=False)
                sparse.append(key)
            else:
                dense[key] = np.asarray(value)
        if dense:
            np.savez(directory / "arrays.npz", **dense)
        meta = {
            "model": self.name,
            "format_version": FORMAT_VERSION,
            "params": self.params,
            "n_users": int(history.shape[0]),
            "n_items": int(history.shape[1]),
            "arrays": sorted(dense),
            "sparse": sorted(sparse),
        }
        (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def _load(cls, directory: Path, meta: dict[str, Any], mmap: bool = False) -> Recommender:
        """With ``mmap`` the arrays are memory-mapped read-only (a service's worker processes
        then share one copy), else read into memory."""
        model = cls(**meta.get("params", {}))
        model.history = Interactions.load(directory / HISTORY_DIR)
        state: dict[str, np.ndarray | sp.spmatrix] = {}
        if meta.get("arrays"):
            if mmap:
                arrays = memory_mapped_npz(directory / "arrays.npz")
                state.update({key: np.ascontiguousarray(arrays[key]) for key in meta["arrays"]})
            else:
                with np.load(directory / "arrays.npz", allow_pickle=False) as arrays:
                    # row-major in memory: ``sparse @ dense`` copies a column-major operand on
                    # every call (EASE's weights come out of the inverse column-major)
                    state.update({key: np.ascontiguousarray(arrays[key]) for key in meta["arrays"]})
        for key in meta.get("sparse", []):
            path = directory / f"{key}.npz"
            state[key] = memory_mapped_sparse(path) if mmap else sp.load_npz(path).tocsr()
        model._set_state(state)
        return model


# -- a model turned off in params.yaml --------------------------------------------------------
DISABLED_FILE = "disabled.json"


def mark_disabled(directory: str | Path, model: str, switch: str) -> Path:
    """Make ``directory`` (emptied first) say that ``model`` was not trained because the
    params.yaml switch ``switch`` (e.g. ``train.two_tower``) is false."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    marker = {
        "model": model,
        "disabled_by": f"{switch}: false",
        "reason": f"{switch} is false in params.yaml, so the stage trained nothing",
    }
    (directory / DISABLED_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    return directory


def disabled_by(directory: str | Path) -> str | None:
    """``"train.two_tower: false"`` when ``directory`` holds a disabled marker, else None."""
    path = Path(directory) / DISABLED_FILE
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("disabled_by", "a switch"))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return "a switch in params.yaml"
