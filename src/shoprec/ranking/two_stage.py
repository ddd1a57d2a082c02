"""The two-stage recommender: candidates from several sources, ordered by the XGBoost ranker.

It implements the project's ``Recommender`` protocol, so evaluation, the CLI and later the
service use it like any model. Items outside the candidate set still get a place in a full
ranking, after every candidate, by recent popularity. Everything it needs is in its own folder:
the sources' arrays and the feature snapshot (NumPy/SciPy, no pickle), the booster (XGBoost
UBJ) and ``model.json``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xgboost as xgb

from shoprec.errors import DataError
from shoprec.models.base import Recommender, top_k
from shoprec.ranking import ranker
from shoprec.ranking.candidates import (
    ITEM_TO_ITEM,
    SOURCES,
    Candidates,
    CandidateSources,
    generate_candidates,
)
from shoprec.ranking.pair_features import feature_names, pair_features
from shoprec.ranking.reasons import explain_pair
from shoprec.ranking.snapshot import Snapshot

BOOSTER_FILE = "ranker.ubj"
_SOURCE_ARRAYS = (
    "itemknn",
    "ease",
    "covisit",
    "user_vectors",
    "item_vectors",
    "sequence_user_vectors",
    "sequence_item_vectors",
)
_FALLBACK = -1.0e6  # below every ranker score: non-candidates rank after all candidates


def _merged_scores(predicted: np.ndarray, fixed: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """One user's candidate scores: the ``fixed`` ones placed at their ``ranks`` (1-based)
    among the others, which keep the ranker's order and scores."""
    others = np.flatnonzero(~fixed)
    others = others[np.argsort(-predicted[others], kind="stable")]
    pinned = np.flatnonzero(fixed)
    pinned = pinned[np.argsort(ranks[pinned], kind="stable")]
    order, o, q = [], 0, 0
    while o < len(others) or q < len(pinned):
        if q < len(pinned) and (o >= len(others) or ranks[pinned[q]] <= len(order) + 1):
            order.append(pinned[q])
            q += 1
        else:
            order.append(others[o])
            o += 1
    scores = predicted.astype(np.float64).copy()
    floor = None  # the score of the next item in the final order
    previous_other = np.full(len(order), np.inf)  # score of the nearest "other" before
    best = np.inf
    for position, index in enumerate(order):
        previous_other[position] = best
        if not fixed[index]:
            best = predicted[index]
    for position in range(len(order) - 1, -1, -1):
        index = order[position]
        if fixed[index]:
            above = previous_other[position]
            below = floor if floor is not None else (above - 2.0 if np.isfinite(above) else 0.0)
            scores[index] = below + 1.0 if not np.isfinite(above) else (above + below) / 2.0
        floor = scores[index]
    return scores


class TwoStageRecommender(Recommender):
    name = "two_stage"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.sources: CandidateSources | None = None
        self.booster: xgb.Booster | None = None

    @classmethod
    def from_parts(
        cls, sources: CandidateSources, trained: xgb.Booster, **params: Any
    ) -> TwoStageRecommender:
        model = cls(**params, sizes=dict(sources.sizes))
        model.history = sources.history
        model.sources = sources
        model.booster = trained
        return model

    @property
    def names(self) -> list[str]:
        return feature_names(self._sources().snapshot.windows)

    def _sources(self) -> CandidateSources:
        if self.sources is None or self.booster is None:
            raise RuntimeError("two_stage: fit or load the model first")
        return self.sources

    def _fit(self, train, items) -> None:
        raise NotImplementedError(
            "two_stage is trained from events: use shoprec.training.two_stage.fit_two_stage"
        )

    # -- scoring ------------------------------------------------------------------------
    def candidates(self, user_rows: np.ndarray, exclude_seen: bool = True) -> Candidates:
        return generate_candidates(self._sources(), user_rows, exclude_seen=exclude_seen)

    def rank_candidates(
        self, user_rows: np.ndarray, exclude_seen: bool = True
    ) -> tuple[Candidates, np.ndarray, np.ndarray]:
        """The candidates of ``user_rows``, their features and the ranker's scores."""
        candidates = self.candidates(user_rows, exclude_seen)
        x = pair_features(self._sources().snapshot, user_rows, candidates)
        predicted = ranker.predict(self.booster, x, self.names)
        if self.params.get("cold_items_at_source_rank", False):
            predicted = self._cold_items_at_source_rank(candidates, predicted)
        return candidates, x, predicted

    def _cold_items_at_source_rank(self, candidates: Candidates, predicted: np.ndarray):
        """Scores in which every cold candidate (no history at the cut) proposed by the
        content-aware source ``cold_items_source`` (picked on the validation targets) sits at
        its rank there, the others in the ranker's order.

        A cold item at source rank r lands at final position r, so the two-stage list holds
        every cold item that source's own top K holds: its cold-item recall@K is at least the
        source's."""
        snap = self._sources().snapshot
        source = self.params.get("cold_items_source")
        if source not in SOURCES:
            return predicted
        ranks = candidates.source_ranks[:, SOURCES.index(source)]
        ranks = np.where(np.isnan(ranks), np.inf, ranks)
        cold = (snap.item_users[-1][candidates.item] == 0) & np.isfinite(ranks)
        if not cold.any():
            return predicted
        out = predicted.astype(np.float64).copy()
        bounds = np.flatnonzero(np.r_[True, np.diff(candidates.user) != 0, True])
        for begin, end in itertools.pairwise(bounds):
            if not cold[begin:end].any():
                continue
            out[begin:end] = _merged_scores(predicted[begin:end], cold[begin:end], ranks[begin:end])
        return out.astype(np.float32)

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError("two_stage ranks known users (score_users)")

    def _scores(self, user_rows: np.ndarray, exclude_seen: bool) -> np.ndarray:
        candidates, _, predicted = self.rank_candidates(user_rows, exclude_seen)
        return self._full_scores(len(user_rows), candidates, predicted)

    def _full_scores(self, n_users: int, candidates: Candidates, predicted: np.ndarray):
        """Full-catalogue scores: the ranker's for candidates, then popularity below them."""
        snap = self._sources().snapshot
        popularity = np.log1p(snap.item_users[-1])
        fallback = (_FALLBACK + popularity / (popularity.max() + 1.0)).astype(np.float32)
        scores = np.broadcast_to(fallback, (n_users, snap.n_items)).copy()
        scores[candidates.user, candidates.item] = predicted
        return scores

    def score_users(self, user_rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self._scores(user_rows, exclude_seen=False)

    def ranking_scores(
        self, user_rows: np.ndarray, history: sp.csr_matrix, exclude_seen: bool
    ) -> np.ndarray:
        """With ``exclude_seen`` the candidates are drawn from the unseen items, so a user's
        seen items never take a candidate's place."""
        return self._scores(user_rows, exclude_seen)

    # -- explanations -------------------------------------------------------------------
    def recommend_with_reasons(
        self,
        user_ids: list[str] | np.ndarray,
        k: int = 10,
        exclude_seen: bool = True,
        n_reasons: int | None = None,
    ) -> pd.DataFrame:
        """``recommend``'s table plus ``title``, ``source`` (candidate or popularity fallback) and
        ``reasons`` (a list of dicts: kind, text, features, contribution, seed_item)."""
        sources = self._sources()
        history = self._require_fitted()
        n_reasons = n_reasons or int(self.params.get("reasons", 3))
        user_ids = np.asarray(user_ids, dtype=str)
        rows = history.user_positions(user_ids)
        if (rows < 0).any():
            shown = ", ".join(user_ids[rows < 0][:5])
            raise DataError(f"{self.name}: {int((rows < 0).sum())} unknown user id(s): {shown}")
        # one candidate pass serves both the ranking and the reasons
        candidates, x, predicted = self.rank_candidates(rows, exclude_seen)
        scores = self._full_scores(len(rows), candidates, predicted)
        if exclude_seen:
            seen_r, seen_c = history.matrix[rows].nonzero()
            scores[seen_r, seen_c] = -np.inf
        idx, best = top_k(scores, k)
        n_items = sources.snapshot.n_items
        position_of = {
            key: p for p, key in enumerate((candidates.user * n_items + candidates.item).tolist())
        }
        records, chosen = [], []
        for r in range(len(rows)):
            for rank, item in enumerate(idx[r], start=1):
                if item >= 0:
                    chosen.append(position_of.get(r * n_items + int(item), -1))
                    records.append((r, rank, int(item), float(best[r, rank - 1])))
        chosen = np.asarray(chosen, dtype=np.int64)
        picked = chosen[chosen >= 0]
        contrib = ranker.contributions(self.booster, x[picked], self.names)
        contrib_of = dict(zip(picked.tolist(), contrib, strict=True))
        seeds = {
            s: sources.seed_items(s, rows[candidates.user[picked]], candidates.item[picked])
            for s in ITEM_TO_ITEM
            if s in sources.active
        }
        seed_of = {p: {s: int(seeds[s][n]) for s in seeds} for n, p in enumerate(picked.tolist())}
        out = []
        for (r, rank, item, score), position in zip(records, chosen, strict=True):
            if position >= 0:
                reasons = explain_pair(
                    sources.snapshot,
                    int(rows[r]),
                    item,
                    contrib_of[position],
                    x[position],
                    self.names,
                    seed_of[position],
                    history.item_ids,
                    n_reasons,
                )
                origin = "candidates"
            else:
                reasons, origin = [], "popularity_fallback"
            out.append(
                {
                    "user_id": user_ids[r],
                    "rank": rank,
                    "item_id": str(history.item_ids[item]),
                    "title": str(sources.snapshot.item_titles[item]),
                    "score": score,
                    "source": origin,
                    "reasons": [reason.as_dict() for reason in reasons],
                }
            )
        return pd.DataFrame(out)

    # -- persistence --------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray | sp.spmatrix]:
        sources = self._sources()
        state: dict[str, np.ndarray | sp.spmatrix] = {
            f"snapshot.{k}": v for k, v in sources.snapshot.arrays().items()
        }
        for key in _SOURCE_ARRAYS:
            value = getattr(sources, key)
            if value is not None:
                state[f"source.{key}"] = value
        return state

    def _set_state(self, state: dict[str, np.ndarray | sp.spmatrix]) -> None:
        snapshot = Snapshot.from_arrays(
            {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("snapshot.")}
        )
        arrays = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("source.")}
        self.sources = CandidateSources(
            history=self.history, snapshot=snapshot, sizes=dict(self.params["sizes"]), **arrays
        )

    def save(self, directory: str | Path) -> Path:
        directory = super().save(directory)
        self.booster.save_model(directory / BOOSTER_FILE)
        return directory

    @classmethod
    def _load(
        cls, directory: Path, meta: dict[str, Any], mmap: bool = False
    ) -> TwoStageRecommender:
        model = super()._load(directory, meta, mmap)
        booster = xgb.Booster()
        try:
            booster.load_model(directory / BOOSTER_FILE)
        except xgb.core.XGBoostError as exc:
            raise DataError(f"{directory / BOOSTER_FILE}: not a readable XGBoost model") from exc
        booster.set_param({"device": ranker.pick_device("auto")})
        model.booster = booster
        if booster.feature_names is not None and list(booster.feature_names) != model.names:
            raise DataError(f"{directory}: the booster's features do not match the model")
        return model


class SourceRecommender(Recommender):
    """One candidate source of a two-stage model as a full-ranking model of its own, so that
    each source can be compared with the two-stage model on the same protocol."""

    def __init__(self, model: TwoStageRecommender, source: str) -> None:
        super().__init__(source=source)
        self.name = f"source:{source}"  # type: ignore[misc]
        self.source = source
        self.sources = model._sources()
        self.history = model.history

    def _fit(self, train, items) -> None:
        raise NotImplementedError("a source is fit as part of its two-stage model")

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError("a source ranks known users (score_users)")

    def score_users(self, user_rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.sources.scores(self.source, np.asarray(user_rows, dtype=np.int64))
