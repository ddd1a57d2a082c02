"""Why an item was recommended: the ranker's largest feature contributions as short text.

Features that say the same thing (a source's score and its rank) are grouped into one reason.
Reasons from item-to-item sources name their seed, the item of the user's own history that
contributed most ("often bought with Running Socks").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shoprec.ranking.candidates import ITEM_TO_ITEM, SOURCES
from shoprec.ranking.snapshot import Snapshot

_SEED_TEXT = {
    "covisit": "often bought or viewed with “{seed}”",
    "itemknn": "shoppers who liked “{seed}” also liked this",
    "ease": "goes with “{seed}”, which you chose",
}


def reason_kind(feature: str) -> str | None:
    """The reason a feature supports, or None for features that say nothing about the item."""
    for source in SOURCES:
        if feature.startswith(f"{source}_"):
            return source
    if feature.startswith("item_users_") or feature == "item_buyers":
        return "popular_recent" if feature != "item_buyers" else "bought_lately"
    table = {
        "category_users": "popular_category",
        "item_share_of_category": "popular_category",
        "category_affinity": "category",
        "recent_category_affinity": "category",
        "top_category_affinity": "category",
        "days_since_category": "category_recent",
        "brand_affinity": "brand",
        "price_log_ratio": "price",
        "user_item_views": "viewed",
        "user_item_carts": "carted",
        "user_item_purchases": "bought",
        "days_since_item": "viewed",
        "item_age_days": "new",
        "n_sources": "several",
    }
    return table.get(feature)


@dataclass
class Reason:
    kind: str
    text: str
    features: list[str]
    contribution: float
    seed_item: str | None = None

    def as_dict(self) -> dict:
        out = {
            "kind": self.kind,
            "text": self.text,
            "features": self.features,
            "contribution": round(self.contribution, 4),
        }
        if self.seed_item is not None:
            out["seed_item"] = self.seed_item
        return out


def _text(kind: str, snap: Snapshot, user: int, item: int, values: dict[str, float]) -> str | None:
    """The sentence for one reason kind (None when the values do not support one)."""
    top = snap.top_category_names[snap.item_top_category[item]]
    category = snap.category_names[snap.item_category[item]]
    if kind == "two_tower":
        return "matches what you have been browsing"
    if kind == "sequential":
        return "often chosen next after what you just did"
    if kind == "popular_recent":
        window = int(snap.windows[len(snap.windows) // 2])
        return f"popular in the last {window} days"
    if kind == "bought_lately":
        return "often bought lately"
    if kind == "popular_category":
        return f"popular in {top} right now"
    if kind == "category":
        return f"you often shop {category}"
    if kind == "category_recent":
        days = values.get("days_since_category")
        if days is None or not np.isfinite(days):
            return None
        return f"you browsed {category} {_days(days)}"
    if kind == "brand":
        brand = snap.brand_names[snap.item_brand[item]]
        return None if brand == "unknown" else f"from {brand}, a brand you like"
    if kind == "price":
        return "in your usual price range"
    if kind == "viewed":
        views = int(values.get("user_item_views", 0) or 0)
        return f"you viewed it {_times(views)}" if views else None
    if kind == "carted":
        return "you added it to your cart" if values.get("user_item_carts") else None
    if kind == "bought":
        return "you bought it before" if values.get("user_item_purchases") else None
    if kind == "new":
        age = values.get("item_age_days")
        return "new in the shop" if age is None or not np.isfinite(age) or age <= 14 else None
    if kind == "several":
        return f"suggested by {int(values.get('n_sources', 0))} of our signals"
    return None


def _days(days: float) -> str:
    whole = int(days)
    return "today" if whole == 0 else "yesterday" if whole == 1 else f"{whole} days ago"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


# The feature values the sentences read (``_text``); a precomputed explanation keeps only these.
TEXT_FEATURES: tuple[str, ...] = (
    "days_since_category",
    "user_item_views",
    "user_item_carts",
    "user_item_purchases",
    "item_age_days",
    "n_sources",
)


@dataclass(frozen=True)
class ReasonKinds:
    """The reason kinds of a feature list, in order of first appearance, and the 0/1 matrix
    (features × kinds) that sums a pair's contributions per kind."""

    kinds: tuple[str, ...]
    features: tuple[tuple[str, ...], ...]  # per kind, the features it groups
    grouping: np.ndarray

    @classmethod
    def of(cls, names: list[str]) -> ReasonKinds:
        grouped: dict[str, list[int]] = {}
        for j, name in enumerate(names):
            kind = reason_kind(name)
            if kind is not None:
                grouped.setdefault(kind, []).append(j)
        grouping = np.zeros((len(names), len(grouped)), dtype=np.float64)
        for column, cols in enumerate(grouped.values()):
            grouping[cols, column] = 1.0
        features = tuple(tuple(names[j] for j in cols) for cols in grouped.values())
        return cls(tuple(grouped), features, grouping)

    def totals(self, contributions: np.ndarray) -> np.ndarray:
        """Per pair and kind, the summed contribution (pairs × kinds), float64 as in a
        per-pair sum."""
        return np.atleast_2d(contributions).astype(np.float64) @ self.grouping


def explain_pair(
    snap: Snapshot,
    user: int,
    item: int,
    contribution: np.ndarray,
    feature_values: np.ndarray,
    names: list[str],
    seeds: dict[str, int],
    item_ids: np.ndarray,
    n_reasons: int = 3,
) -> list[Reason]:
    """Up to ``n_reasons`` reasons for one (user, item), strongest first.

    ``seeds`` maps an item-to-item source to the seed item's catalogue index (-1: none).
    """
    kinds = ReasonKinds.of(names)
    values = {name: float(feature_values[j]) for j, name in enumerate(names)}
    return reasons_from_totals(
        snap, user, item, kinds, kinds.totals(contribution)[0], values, seeds, item_ids, n_reasons
    )


def reasons_from_totals(
    snap: Snapshot,
    user: int,
    item: int,
    kinds: ReasonKinds,
    totals: np.ndarray,
    values: dict[str, float],
    seeds: dict[str, int],
    item_ids: np.ndarray,
    n_reasons: int = 3,
) -> list[Reason]:
    """``explain_pair`` from the per-kind totals (``ReasonKinds.totals``): the part that runs
    per pair, so a service can keep the totals of its precomputed lists and write the
    sentences only for the items it shows."""
    reasons: list[Reason] = []
    used_seeds: set[int] = set()
    for column in sorted(range(len(kinds.kinds)), key=lambda c: -totals[c]):
        kind, total = kinds.kinds[column], float(totals[column])
        if total <= 0 or len(reasons) >= n_reasons:
            break
        features = list(kinds.features[column])
        if kind in ITEM_TO_ITEM:
            seed = seeds.get(kind, -1)
            if seed < 0 or seed in used_seeds:  # one "because of X" per seed is enough
                continue
            used_seeds.add(seed)
            title = snap.item_titles[seed] or str(item_ids[seed])
            text = _SEED_TEXT[kind].format(seed=title)
            reasons.append(Reason(kind, text, features, total, str(item_ids[seed])))
            continue
        text = _text(kind, snap, user, item, values)
        if text is not None:
            reasons.append(Reason(kind, text, features, total))
    return reasons
