"""Every known user's two-stage list, ranked once when a model version loads.

A two-stage request used to run the whole pipeline for one user: every candidate source over the
catalogue, the pair features, the ranker, SHAP contributions for the reasons and a DataFrame
(~9 ms on the tiny shop, 15 ms at 100k items). All of it depends only on the model version, so
``PrecomputedLists.build`` does it for every known user in large batches (vectorised, all
cores) and keeps plain arrays: each user's top ``n_items`` (item, score, candidate or
popularity fallback) and, for the first ``n_explained`` of them, the per-kind contribution
totals, the item-to-item seeds and the few feature values the sentences read. A request then
only slices arrays and writes the sentences of the items it shows.

The arrays are saved as ``.npy`` files and loaded memory-mapped, so several worker processes
of one service share one copy. The answers are the ones ``recommend_with_reasons`` gives
(tested item by item).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoprec.models.base import top_k
from shoprec.ranking import ranker
from shoprec.ranking.candidates import ITEM_TO_ITEM
from shoprec.ranking.reasons import TEXT_FEATURES, ReasonKinds, reasons_from_totals

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
META_FILE = "precomputed.json"  # written last: a folder with it is complete
_ARRAYS = ("items", "scores", "candidate", "totals", "seeds", "values")


@dataclass
class PrecomputedLists:
    items: np.ndarray  # users × n_items, int32 item index, -1 padded
    scores: np.ndarray  # users × n_items, float32
    candidate: np.ndarray  # users × n_items, bool: from the candidates (else popularity)
    totals: np.ndarray  # users × n_explained × kinds, float64 contribution per reason kind
    seeds: np.ndarray  # users × n_explained × len(seed_sources), int32 (-1: none)
    values: np.ndarray  # users × n_explained × len(TEXT_FEATURES), float32
    seed_sources: tuple[str, ...]
    n_reasons: int

    @property
    def n_items(self) -> int:
        return self.items.shape[1]

    @property
    def n_explained(self) -> int:
        return self.totals.shape[1]

    # -- building -----------------------------------------------------------------------
    @classmethod
    def build(
        cls, model, n_items: int, n_explained: int, batch_size: int = 256
    ) -> PrecomputedLists:
        """Rank every user of ``model`` (a fitted ``TwoStageRecommender``), seen items
        excluded, and explain the first ``n_explained`` items of each list."""
        sources = model._sources()
        history = model.history
        names = model.names
        kinds = ReasonKinds.of(names)
        seed_sources = tuple(s for s in ITEM_TO_ITEM if s in sources.active)
        text_columns = [names.index(f) if f in names else -1 for f in TEXT_FEATURES]
        n_users, catalogue = history.shape
        n_items = min(n_items, catalogue)
        n_explained = min(n_explained, n_items)
        out = cls(
            items=np.full((n_users, n_items), -1, dtype=np.int32),
            scores=np.zeros((n_users, n_items), dtype=np.float32),
            candidate=np.zeros((n_users, n_items), dtype=bool),
            totals=np.zeros((n_users, n_explained, len(kinds.kinds)), dtype=np.float64),
            seeds=np.full((n_users, n_explained, len(seed_sources)), -1, dtype=np.int32),
            values=np.full((n_users, n_explained, len(TEXT_FEATURES)), np.nan, dtype=np.float32),
            seed_sources=seed_sources,
            n_reasons=int(model.params.get("reasons", 3)),
        )
        started, reported = time.perf_counter(), time.perf_counter()
        for begin in range(0, n_users, batch_size):
            rows = np.arange(begin, min(begin + batch_size, n_users))
            out._fill(model, rows, kinds, text_columns)
            if time.perf_counter() - reported > 10:
                reported = time.perf_counter()
                log.info("two_stage lists: %d of %d users ranked", rows[-1] + 1, n_users)
        log.info(
            "two_stage lists: %d users × %d items ranked (%d explained) in %.1f s",
            n_users,
            n_items,
            n_explained,
            time.perf_counter() - started,
        )
        return out

    def _fill(self, model, rows: np.ndarray, kinds: ReasonKinds, text_columns: list[int]):
        """The lists of one batch of users: the steps of ``recommend_with_reasons``."""
        sources = model._sources()
        history = model.history
        candidates, x, predicted = model.rank_candidates(rows, exclude_seen=True)
        scores = model._full_scores(len(rows), candidates, predicted)
        seen_r, seen_c = history.matrix[rows].nonzero()
        scores[seen_r, seen_c] = -np.inf
        idx, best = top_k(scores, self.n_items)
        self.items[rows] = idx
        self.scores[rows] = np.where(idx >= 0, best, 0.0)
        # where each listed (user, item) sits among the candidates (sorted by user, item)
        keys = candidates.user * history.shape[1] + candidates.item
        wanted = (np.arange(len(rows))[:, None] * history.shape[1] + idx).ravel()
        position = np.searchsorted(keys, wanted)
        found = (idx.ravel() >= 0) & (position < len(keys))
        found[found] = keys[position[found]] == wanted[found]
        self.candidate[rows] = found.reshape(idx.shape)
        # the explained part: contributions, seeds and sentence values of candidate pairs
        explained = found.reshape(idx.shape)[:, : self.n_explained]
        r, c = np.nonzero(explained)
        pairs = position.reshape(idx.shape)[:, : self.n_explained][r, c]
        if len(pairs) == 0:
            return
        contributions = ranker.contributions(model.booster, x[pairs], model.names)
        self.totals[rows[r], c] = kinds.totals(contributions)
        for j, source in enumerate(self.seed_sources):
            self.seeds[rows[r], c, j] = sources.seed_items(
                source, rows[candidates.user[pairs]], candidates.item[pairs]
            )
        for j, column in enumerate(text_columns):
            if column >= 0:
                self.values[rows[r], c, j] = x[pairs, column]

    # -- answering ----------------------------------------------------------------------
    def entries(self, row: int, k: int, model, kinds: ReasonKinds) -> list[tuple] | None:
        """``(item index, score, source, reasons)`` of user ``row``'s top ``k``, best first;
        None when ``k`` goes past the explained part (the caller ranks live)."""
        if k > self.n_explained:
            return None
        snap = model._sources().snapshot
        item_ids = model.history.item_ids
        out = []
        for rank in range(k):
            item = int(self.items[row, rank])
            if item < 0:
                break
            if not self.candidate[row, rank]:
                out.append((item, float(self.scores[row, rank]), "popularity_fallback", []))
                continue
            seeds = {s: int(self.seeds[row, rank, j]) for j, s in enumerate(self.seed_sources)}
            values = {f: float(self.values[row, rank, j]) for j, f in enumerate(TEXT_FEATURES)}
            reasons = reasons_from_totals(
                snap,
                row,
                item,
                kinds,
                self.totals[row, rank],
                values,
                seeds,
                item_ids,
                self.n_reasons,
            )
            out.append(
                (item, float(self.scores[row, rank]), "candidates", [r.as_dict() for r in reasons])
            )
        return out

    # -- files --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)
        meta = {
            "format_version": FORMAT_VERSION,
            "seed_sources": list(self.seed_sources),
            "n_reasons": self.n_reasons,
            "shape": list(self.items.shape),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> PrecomputedLists | None:
        """The lists saved in ``directory``, memory-mapped read-only; None if incomplete."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / META_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if meta.get("format_version") != FORMAT_VERSION:
            return None
        arrays = {
            name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in _ARRAYS
        }
        return cls(**arrays, seed_sources=tuple(meta["seed_sources"]), n_reasons=meta["n_reasons"])
