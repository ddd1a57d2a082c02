"""Features of a (user, candidate item) pair, gathered from a ``Snapshot`` and the candidates.

Every feature is known at the snapshot's cut-off: the sources' scores and ranks, item
popularity over several windows, item age and price, the price relative to the user's usual
price, the user's affinity to the item's category and brand, time since the user last saw the
item or its category, and the user's event counts on the item. Missing values are NaN
(XGBoost learns a default direction for them).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shoprec.ranking.candidates import SOURCES, Candidates
from shoprec.ranking.snapshot import Snapshot


def feature_names(windows: np.ndarray | list[int]) -> list[str]:
    names = [f"{s}_score" for s in SOURCES] + [f"{s}_rank" for s in SOURCES] + ["n_sources"]
    names += [f"item_users_{int(w)}d" for w in windows] + ["item_users_all", "item_buyers"]
    names += [
        "item_age_days",
        "item_days_since_last_event",
        "item_log_price",
        "item_available",
        "category_users",
        "item_share_of_category",
        "user_log_events",
        "user_log_items",
        "user_days_since_last_event",
        "price_log_ratio",
        "category_affinity",
        "recent_category_affinity",
        "top_category_affinity",
        "brand_affinity",
        "days_since_category",
        "days_since_item",
        "user_item_views",
        "user_item_carts",
        "user_item_purchases",
    ]
    return names


def _gather(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(matrix[rows, cols], dtype=np.float32).ravel()


def _days(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Stored as days + 1 (0: never): back to days, NaN for never."""
    stored = _gather(matrix, rows, cols)
    return np.where(stored > 0, stored - 1.0, np.nan).astype(np.float32)


def pair_features(snapshot: Snapshot, user_rows: np.ndarray, candidates: Candidates) -> np.ndarray:
    """The feature matrix (pairs × ``feature_names``), float32, for ``candidates`` of the
    history rows ``user_rows`` (``candidates.user`` indexes ``user_rows``)."""
    s = snapshot
    u = np.asarray(user_rows, dtype=np.int64)[candidates.user]
    i = candidates.item
    cat = s.item_category[i]
    middle = len(s.windows) // 2
    category_users = s.category_users[cat]
    with np.errstate(invalid="ignore", divide="ignore"):
        share_of_category = np.where(
            category_users > 0, s.item_users[middle][i] / category_users, np.nan
        )
    columns = [
        candidates.source_scores,
        candidates.source_ranks,
        np.sum(~np.isnan(candidates.source_ranks), axis=1, keepdims=True),
        np.log1p(s.item_users[:, i]).T,
        np.log1p(s.item_buyers[i])[:, None],
        np.stack(
            [
                s.item_first_days[i],
                s.item_last_days[i],
                s.item_log_price[i],
                s.item_available[i],
                np.log1p(category_users),
                share_of_category,
                np.log1p(s.user_events[u]),
                np.log1p(s.user_items[u]),
                s.user_last_days[u],
                s.item_log_price[i] - s.user_mean_log_price[u],
                _gather(s.user_category_share, u, cat),
                _gather(s.user_recent_category_share, u, cat),
                _gather(s.user_top_category_share, u, s.item_top_category[i]),
                _gather(s.user_brand_share, u, s.item_brand[i]),
                _days(s.user_category_days, u, cat),
                _days(s.user_item_days, u, i),
                _gather(s.user_item_views, u, i),
                _gather(s.user_item_carts, u, i),
                _gather(s.user_item_purchases, u, i),
            ],
            axis=1,
        ),
    ]
    return np.hstack([np.asarray(c, dtype=np.float32) for c in columns])
