"""One loaded model version and everything a request needs from it.

``ServedModel`` answers the service's questions for one immutable model version: top-K for a
user (with reasons, a category filter, and the user's in-memory session on top), similar items
(from co-interactions, or from content for items the model never saw) and the popularity
fallback for unknown users. The service swaps whole ``ServedModel`` objects on reload, so a
request always sees one version from start to end.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from shoprec.models.base import Recommender, top_k
from shoprec.ranking.precomputed import PrecomputedLists
from shoprec.ranking.reasons import ReasonKinds
from shoprec.serving.catalogue import Catalogue
from shoprec.training.model_table import load_model

SESSION_WEIGHT = 0.5  # share of a user's final list that their live session may reorder
CO_SHRINK = 10.0
LISTS_DIR = "serving_lists"  # beside the model files: the precomputed two-stage lists


@dataclass(frozen=True)
class Precompute:
    """How much of each known user's two-stage list is ranked when a version loads
    (``serving.precomputed_items`` / ``serving.explained_items``; 0 items: rank per request)."""

    items: int = 100
    explained: int = 20


class UnknownItem(LookupError):
    pass


@dataclass
class Recommendations:
    items: list[dict]
    fallback: bool  # True: the user is unknown to the model, these are popular items


@dataclass
class ServedModel:
    name: str
    version: int | None
    model: Recommender
    catalogue: Catalogue
    lists: PrecomputedLists | None = None  # two-stage: every known user ranked at load
    # users on the deletion list (serving.forgotten.ForgottenUsers, shared by every version):
    # unknown to this version, none of their per-user state is read
    forgotten: Container[str] = field(default=frozenset(), repr=False, compare=False)
    popular: np.ndarray = field(init=False)  # model item indices, most popular first
    _by_user: sp.csr_matrix = field(init=False)  # binary history, for co-interactions
    _by_item: sp.csc_matrix = field(init=False)
    _norms: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        history = self.model.history
        counts = history.item_user_counts()
        self.popular = np.lexsort((np.arange(len(counts)), -counts))
        binary = history.matrix.copy()
        binary.data[:] = 1.0
        self._by_user = binary.tocsr()
        self._by_item = binary.tocsc()
        self._norms = np.sqrt(counts.astype(np.float64))
        if self.lists is not None:
            self._kinds = ReasonKinds.of(self.model.names)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        name: str,
        version: int | None,
        items_path: str | Path | None,
        precompute: Precompute | None = None,
        mmap: bool = False,
    ) -> ServedModel:
        """Load a verified model folder. A two-stage model's lists are read from
        ``<directory>/serving_lists`` (memory-mapped, shared by worker processes) or built
        there first; the caller holds the version's lock, so one process builds them. With
        ``mmap`` the model's arrays are memory-mapped too."""
        model = load_model(directory, mmap=mmap)
        lists = None
        precompute = precompute or Precompute()
        if hasattr(model, "rank_candidates") and precompute.items > 0:
            lists = PrecomputedLists.load(Path(directory) / LISTS_DIR)
            if lists is None:
                PrecomputedLists.build(model, precompute.items, precompute.explained).save(
                    Path(directory) / LISTS_DIR
                )
                lists = PrecomputedLists.load(Path(directory) / LISTS_DIR)
        booster = getattr(model, "booster", None)
        if booster is not None:  # one request is a small batch: one thread is fastest
            booster.set_param({"nthread": 1})
        if mmap:  # built once per version and items file, shared by worker processes
            catalogue = Catalogue.prepared(directory, model.history.item_ids, items_path)
        else:
            catalogue = Catalogue.load(model.history.item_ids, items_path)
        served = cls(name, version, model, catalogue, lists)
        known = served.model.history.user_ids
        if len(known):  # warm up, and fail here rather than on the first request
            served.recommend(str(known[0]), 1)
            if hasattr(model, "score_sequences"):  # load the network now, not on a request
                served.recommend(str(known[0]), 1, session=[0], session_kinds=["view"])
        return served

    # -- users --------------------------------------------------------------------------
    def knows_user(self, user_id: str) -> bool:
        return self._row(user_id) >= 0

    def _row(self, user_id: str) -> int:
        """The user's history row, -1 for an unknown or forgotten user."""
        if user_id in self.forgotten:
            return -1
        return int(self.model.history.user_positions([user_id])[0])

    def recommend(
        self,
        user_id: str,
        k: int,
        exclude_seen: bool = True,
        category: str | None = None,
        session: list[int] | None = None,
        session_kinds: list[str] | None = None,
    ) -> Recommendations:
        row = self._row(user_id)
        allowed = self.catalogue.in_category(category) if category else None
        if row < 0:
            return Recommendations(self._popular(k, allowed), fallback=True)
        session = session or []
        fetch = k if allowed is None and not session else min(self.catalogue.n_model_items, 20 * k)
        hidden = set(session) if exclude_seen else set()
        if session and hasattr(self.model, "score_sequences"):
            # a sequential model reads the session itself: its next-item scores after it
            listed = self._sequence_list(row, session, session_kinds, fetch, hidden, exclude_seen)
        else:
            listed = self._model_list(row, user_id, fetch, exclude_seen)
            listed = [e for e in listed if e[0] not in hidden]
            if session:
                listed = self._blend_session(listed, session, fetch, hidden, row, exclude_seen)
        if allowed is not None:
            listed = [e for e in listed if allowed[e[0]]]
            if len(listed) < k:  # fill from the category's popular items
                taken = {e[0] for e in listed}
                seen = set(self._by_user[row].indices) if exclude_seen else set()
                for item in self.popular[allowed[self.popular]]:
                    if len(listed) >= k:
                        break
                    if item not in taken and item not in seen and item not in hidden:
                        listed.append((int(item), 0.0, "popularity_fallback", []))
        return Recommendations(
            [self._item(rank, e) for rank, e in enumerate(listed[:k], start=1)], fallback=False
        )

    def _model_list(self, row: int, user_id: str, k: int, exclude_seen: bool) -> list[tuple]:
        """``(item index, score, source, reasons)`` from the model, best first."""
        if self.lists is not None and exclude_seen:
            listed = self.lists.entries(row, k, self.model, self._kinds)
            if listed is not None:
                return listed
        if hasattr(self.model, "recommend_with_reasons"):
            table = self.model.recommend_with_reasons([user_id], k=k, exclude_seen=exclude_seen)
            positions = self.model.history.item_positions(table["item_id"].to_numpy())
            return [
                (int(p), float(s), src, list(r))
                for p, s, src, r in zip(
                    positions, table["score"], table["source"], table["reasons"], strict=True
                )
            ]
        idx, scores = self.model.recommend_indices(np.array([row]), k, exclude_seen=exclude_seen)
        return [
            (int(i), float(s), "model", [])
            for i, s in zip(idx[0], scores[0], strict=True)
            if i >= 0
        ]

    def _sequence_list(self, row, session, kinds, k, hidden, exclude_seen) -> list[tuple]:
        """The sequential model's top ``k`` with the session appended to the user's events."""
        from shoprec.features.event_sequences import EVENT_CODES

        codes = [EVENT_CODES.get(kind, EVENT_CODES["view"]) for kind in (kinds or [])]
        codes += [EVENT_CODES["view"]] * (len(session) - len(codes))
        sequences = self.model.session_sequences(np.array([row]), [session], [codes])
        scores = self.model.score_sequences(sequences)
        if exclude_seen:
            scores[0, self._by_user[row].indices] = -np.inf
            scores[0, list(hidden)] = -np.inf
        idx, best = top_k(scores, k)
        reason = [{"kind": "session", "text": "follows what you just did"}]
        return [
            (int(i), float(s), "model", reason)
            for i, s in zip(idx[0], best[0], strict=True)
            if i >= 0
        ]

    def _blend_session(self, listed, session, k, hidden, row, exclude_seen) -> list[tuple]:
        """Reciprocal-rank fusion of the model's list with items co-interacted with the
        session's recent items (most recent weighs most)."""
        related: dict[int, tuple[float, int]] = {}
        for age, seed in enumerate(reversed(session[-5:])):
            items, scores = self.co_interacted(seed, k)
            for item, score in zip(items.tolist(), scores.tolist(), strict=True):
                value = score / (1 + age)
                if value > related.get(item, (0.0, seed))[0]:
                    related[item] = (value, seed)
        seen = set(self._by_user[row].indices) if exclude_seen else set()
        ordered = sorted(
            (i for i in related if i not in hidden and i not in seen),
            key=lambda i: (-related[i][0], i),
        )
        fused: dict[int, float] = {}
        for rank, entry in enumerate(listed):
            fused[entry[0]] = fused.get(entry[0], 0.0) + (1 - SESSION_WEIGHT) / (60 + rank)
        for rank, item in enumerate(ordered):
            fused[item] = fused.get(item, 0.0) + SESSION_WEIGHT / (60 + rank)
        by_item = {e[0]: e for e in listed}
        out = []
        for item in sorted(fused, key=lambda i: (-fused[i], i))[:k]:
            entry = by_item.get(item, (item, 0.0, "session", []))
            reasons = list(entry[3])
            if item in related:
                seed = related[item][1]
                reasons.insert(
                    0,
                    {
                        "kind": "session",
                        "text": f"goes with {self.catalogue.titles[seed] or self.catalogue.item_ids[seed]}, which you just looked at",  # noqa: E501
                        "seed_item": str(self.catalogue.item_ids[seed]),
                    },
                )
            out.append((item, fused[item], entry[2], reasons))
        return out

    def _popular(self, k: int, allowed: np.ndarray | None) -> list[dict]:
        items = self.popular if allowed is None else self.popular[allowed[self.popular]]
        reason = [{"kind": "popular", "text": "popular in the shop right now"}]
        return [
            self._item(rank, (int(i), 0.0, "popularity_fallback", reason))
            for rank, i in enumerate(items[:k], start=1)
        ]

    def _item(self, rank: int, entry: tuple) -> dict:
        item, score, source, reasons = entry
        return {
            "rank": rank,
            **self.catalogue.describe(item),
            "score": score,
            "source": source,
            "reasons": reasons,
        }

    # -- items --------------------------------------------------------------------------
    def co_interacted(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Items most often interacted with by the same users (shrunk cosine)."""
        users = self._by_item.indices[self._by_item.indptr[item] : self._by_item.indptr[item + 1]]
        if len(users) == 0:
            return np.array([], dtype=np.int64), np.array([], dtype=np.float64)
        counts = np.asarray(self._by_user[users].sum(axis=0)).ravel()
        counts[item] = 0
        scores = counts / (self._norms[item] * self._norms + CO_SHRINK)
        idx, best = top_k(scores[None, :], k)
        keep = (idx[0] >= 0) & (best[0] > 0)
        return idx[0][keep], best[0][keep].astype(np.float64)

    def similar(self, item_id: str, k: int) -> tuple[list[dict], str]:
        """Similar items and how they were found: ``interactions`` or ``content``."""
        row = self.catalogue.position(item_id)
        if row < 0:
            raise UnknownItem(item_id)
        items, scores = (
            self.co_interacted(row, k)
            if row < self.catalogue.n_model_items
            else (np.array([], dtype=np.int64), None)
        )
        basis = "interactions"
        if len(items) == 0:  # a new or never-bought item: its title, category and brand
            items, scores = self.catalogue.similar_by_content(row, k)
            basis = "content"
        return [
            {"rank": rank, **self.catalogue.describe(int(i)), "score": float(s)}
            for rank, (i, s) in enumerate(zip(items, scores, strict=True), start=1)
        ], basis
