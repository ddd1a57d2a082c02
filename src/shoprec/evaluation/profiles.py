"""Reference profiles kept with each registered version, so monitoring has something to compare.

The nightly monitoring (``shoprec.monitoring``) cannot re-read a version's training data: the
data moves on and the registry holds only the model. So when a version is registered its
training data is summarised as JSON (``data_profile``: event mix, distinct items per user and
active day, price and top-level category of the interacted items, the users of every item it
saw) and so are the lists it recommends offline (``served_profile``: catalogue coverage,
popularity bias and novelty of its top-K for the test users). Both are small enough for the
manifest; the monitoring flow computes the same numbers on what happened since.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shoprec import layout
from shoprec.io import read_parquet
from shoprec.models.base import Recommender

PROFILE_FORMAT = 1
QUANTILES = 100  # a numerical distribution is kept as this many evenly spaced quantiles
MAX_CATEGORIES = 50  # the rest are counted as OTHER
OTHER = "(other)"
UNKNOWN = "(unknown)"
# served lists: coverage is measured on this many lists (it grows with the number of lists,
# so monitoring compares served and offline lists at the same count)
COVERAGE_LISTS = (10, 30, 100, 300, 1000, 3000, 10000)
SERVED_PROFILE_USERS = 3000  # the offline lists: at most this many test users


def quantile_levels(n: int = QUANTILES) -> np.ndarray:
    """The midpoints ``(i + 0.5) / n``: equal-mass slices of a distribution."""
    return (np.arange(n) + 0.5) / n


def numeric_summary(values: np.ndarray | pd.Series) -> dict:
    """Count, mean, standard deviation and ``QUANTILES`` quantiles of ``values`` (enough for a
    Wasserstein distance, which is the mean gap between two quantile functions)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "std": None, "quantiles": []}
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "quantiles": [float(q) for q in np.quantile(x, quantile_levels())],
    }


def top_level(category: pd.Series) -> pd.Series:
    """``a/b/c`` → ``a``; missing → ``UNKNOWN``."""
    text = category.astype("string").fillna(UNKNOWN)
    return text.str.split("/", n=1).str[0].str.strip().replace("", UNKNOWN).astype(str)


def category_counts(categories: pd.Series, limit: int = MAX_CATEGORIES) -> dict[str, int]:
    """Counts per category, the ``limit`` largest kept and the rest summed as ``OTHER``."""
    counts = categories.value_counts()
    kept = {str(k): int(v) for k, v in counts.iloc[:limit].items()}
    rest = int(counts.iloc[limit:].sum())
    return {**kept, OTHER: rest} if rest else kept


def items_per_user_day(events: pd.DataFrame) -> pd.Series:
    """Distinct items of each (user, UTC day) with events: independent of the window length,
    so a week of monitoring compares with a month of training data."""
    if events.empty:
        return pd.Series([], dtype=np.int64)
    day = pd.to_datetime(events["timestamp"], utc=True).dt.floor("D")
    frame = pd.DataFrame({"user_id": events["user_id"], "day": day, "item_id": events["item_id"]})
    return frame.groupby(["user_id", "day"])["item_id"].nunique()


def interacted_items(events: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    """Each event's item with its ``price`` (the event's own when it has one, else the
    catalogue's) and top-level ``category`` (``UNKNOWN`` for items not in ``items``)."""
    out = pd.DataFrame({"item_id": events["item_id"].astype(str).to_numpy()})
    if items is not None and len(items):
        catalogue = (
            items.assign(item_id=items["item_id"].astype(str))
            .drop_duplicates("item_id")
            .set_index("item_id")
        )
        price = out["item_id"].map(catalogue["price"]) if "price" in catalogue else None
        category = out["item_id"].map(catalogue["category"]) if "category" in catalogue else None
    else:
        price = category = None
    price = pd.Series(np.nan, index=out.index) if price is None else price.astype("float64")
    if "price" in events:
        own = pd.to_numeric(events["price"], errors="coerce").to_numpy(dtype=np.float64)
        price = pd.Series(np.where(np.isfinite(own), own, price.to_numpy()), index=out.index)
    out["price"] = price.to_numpy(dtype=np.float64)
    out["category"] = top_level(
        pd.Series(pd.NA, index=out.index, dtype="string") if category is None else category
    ).to_numpy()
    return out


def data_profile(events: pd.DataFrame, items: pd.DataFrame | None = None) -> dict:
    """The JSON summary of the events a version was trained on (and the catalogue then)."""
    interacted = interacted_items(events, items)
    item_users = events.groupby(events["item_id"].astype(str))["user_id"].nunique()
    stamps = pd.to_datetime(events["timestamp"], utc=True)
    return {
        "format": PROFILE_FORMAT,
        "events": len(events),
        "users": int(events["user_id"].nunique()),
        "window": {
            "start": stamps.min().isoformat() if len(events) else None,
            "end": stamps.max().isoformat() if len(events) else None,
        },
        "event_mix": {str(k): int(v) for k, v in events["event_type"].value_counts().items()},
        "items_per_user_day": numeric_summary(items_per_user_day(events)),
        "price": numeric_summary(interacted["price"]),
        "category": category_counts(interacted["category"]),
        # every item the version saw, with its distinct users: the known-item set (new-item
        # share) and the popularity of served items (popularity bias, novelty)
        "known_items": len(item_users),
        "item_users": {str(k): int(v) for k, v in item_users.sort_index().items()},
    }


def list_statistics(
    lists: list[np.ndarray], item_users: dict[str, int], n_users: int, n_items: int
) -> dict:
    """Popularity bias and novelty of recommended lists (arrays of item ids), against the
    training popularity ``item_users`` (distinct users per item among ``n_users``):

    - ``popularity``: the mean share of training users who interacted with a recommended item
      (average recommendation popularity; higher: more popular items);
    - ``novelty``: the mean self-information ``-log2 p`` of a recommended item, with
      ``p = (users + 1) / (n_users + 1)`` as ``evaluation.metrics.novelty`` smooths it;
    - ``coverage``: the share of the ``n_items`` known items in at least one list.
    """
    flat = np.concatenate(lists) if lists else np.array([], dtype=str)
    if flat.size == 0:
        return {"lists": len(lists), "items": 0, "popularity": None, "novelty": None}
    users = pd.Series(flat).map(item_users).fillna(0).to_numpy(dtype=np.float64)
    info = np.log2(n_users + 1.0) - np.log2(users + 1.0)
    return {
        "lists": len(lists),
        "items": int(flat.size),
        "popularity": float(np.mean(users / max(n_users, 1))),
        "novelty": float(np.mean(info)),
        "coverage": len(set(flat.tolist()) & set(item_users)) / max(n_items, 1),
    }


def coverage_curve(lists: list[np.ndarray], n_items: int, seed: int = 0) -> dict[str, float]:
    """Catalogue coverage of ``c`` lists drawn at random (fixed seed), for each ``c`` of
    ``COVERAGE_LISTS`` up to the number of lists: coverage grows with the lists counted, so
    served lists are compared with offline ones at the same count."""
    order = np.random.default_rng(seed).permutation(len(lists))
    out = {}
    for count in COVERAGE_LISTS:
        if count > len(lists):
            break
        chosen = [lists[i] for i in order[:count]]
        distinct = len(set(np.concatenate(chosen).tolist())) if chosen else 0
        out[str(count)] = distinct / max(n_items, 1)
    return out


def served_profile(
    model: Recommender,
    user_rows: np.ndarray,
    k: int,
    profile: dict,
    exclude_seen: bool = True,
    max_users: int = SERVED_PROFILE_USERS,
) -> dict:
    """The version's own top-``k`` for (at most ``max_users`` of) the test users, summarised
    as monitoring summarises the served impressions; ``profile`` is its ``data_profile``."""
    rows = np.asarray(user_rows, dtype=np.int64)
    if len(rows) > max_users:
        rows = rows[np.linspace(0, len(rows) - 1, max_users).astype(np.int64)]
    idx, _ = model.recommend_indices(rows, k, exclude_seen=exclude_seen)
    item_ids = model._require_fitted().item_ids
    lists = [item_ids[r[r >= 0]].astype(str) for r in idx]
    known = profile["known_items"]
    stats = list_statistics(lists, profile["item_users"], profile["users"], known)
    return {
        "format": PROFILE_FORMAT,
        "k": int(k),
        "users": len(rows),
        **stats,
        "coverage_curve": coverage_curve(lists, known),
    }


# the split parts a model in models/ was fit on (everything before the test period)
TRAINING_PARTS = ("train.parquet", "validation.parquet")


def project_data_profile(
    root: str | Path, items: str | Path = layout.VALIDATED / layout.ITEMS_FILE
) -> dict | None:
    """``data_profile`` of a project's training data (``data/split``: the train and validation
    parts, the models' history before the test period) with the catalogue ``items`` (relative
    to ``root``); None when the split is not there."""
    root = Path(root)
    parts = [root / layout.SPLIT / name for name in TRAINING_PARTS]
    frames = [read_parquet(p) for p in parts if p.is_file()]
    if not frames:
        return None
    items_path = root / items
    catalogue = read_parquet(items_path) if items_path.is_file() else None
    return data_profile(pd.concat(frames, ignore_index=True), catalogue)
