"""What the shop knew at one moment: per-item, per-user and per-(user, item) state at a cut-off.

The ranker's pair features are gathers from this snapshot. It is built from the events strictly
before ``cut`` (later events are dropped here, whatever the caller passes), so a snapshot taken
at the validation start can label its pairs with validation events without any leak, and the
snapshot at the test start is what the model ranks with.

The cut is one moment, or one per user (``split.strategy: leave_last_out``: each user's own
validation or test start). With per-user cuts an event counts only if it is earlier than its
own user's cut; a user's ages and recencies are taken from that user's cut, an item's
(popularity windows, first and last event) from the latest cut, the snapshot's ``cut``.
Everything is a NumPy or SciPy array, saved with the model without pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.features.interactions import Interactions

_DAY = 86_400.0
_EPOCH = pd.Timestamp(0, tz="UTC")
UNKNOWN = "unknown"


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the sorted distinct names of a text column ("unknown" for blanks)."""
    text = values.astype("string").fillna(UNKNOWN).replace("", UNKNOWN)
    codes, names = pd.factorize(text, sort=True)
    return codes.astype(np.int32), np.asarray(names, dtype=str)


def _distinct_count(keys_a: np.ndarray, keys_b: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    """For each a in [0, n_a), how many distinct b occur with it."""
    if len(keys_a) == 0:
        return np.zeros(n_a, dtype=np.float32)
    pairs = np.unique(keys_a.astype(np.int64) * n_b + keys_b)
    return np.bincount(pairs // n_b, minlength=n_a).astype(np.float32)


def cell_matrix(rows, cols, values, shape, reduce: str = "sum") -> sp.csr_matrix:
    """A float32 CSR matrix of ``values`` at ``(rows, cols)``; repeated cells are summed, or
    reduced to their ``"min"`` or ``"max"``."""
    if reduce in ("min", "max"):  # keep one value per cell
        order = np.lexsort((values if reduce == "min" else -values, cols, rows))
        rows, cols, values = rows[order], cols[order], values[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        rows, cols, values = rows[first], cols[first], values[first]
    matrix = sp.csr_matrix((values.astype(np.float32), (rows, cols)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


def _row_share(matrix: sp.csr_matrix) -> sp.csr_matrix:
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix)


@dataclass
class Snapshot:
    """Arrays describing users (rows of the history) and items (catalogue order) at ``cut``.

    Day counts are "days before the cut"; sparse "days" matrices store days + 1 so that an
    absent cell (0) means "never".
    """

    cut_seconds: np.ndarray  # shape (1,), the cut as epoch seconds
    windows: np.ndarray  # popularity windows in days
    item_category: np.ndarray
    item_top_category: np.ndarray
    item_brand: np.ndarray
    category_names: np.ndarray
    top_category_names: np.ndarray
    brand_names: np.ndarray
    item_titles: np.ndarray
    item_log_price: np.ndarray
    item_available: np.ndarray
    item_users: np.ndarray  # (len(windows) + 1, n_items): distinct users per window, then all time
    item_buyers: np.ndarray  # distinct users with a cart or purchase in the longest window
    item_first_days: np.ndarray  # days since the item's first event (NaN: none yet)
    item_last_days: np.ndarray
    category_users: np.ndarray  # distinct users per category in the middle window
    user_events: np.ndarray
    user_items: np.ndarray
    user_last_days: np.ndarray
    user_mean_log_price: np.ndarray
    user_category_share: sp.csr_matrix
    user_recent_category_share: sp.csr_matrix  # the same with events decayed by age
    user_top_category_share: sp.csr_matrix
    user_brand_share: sp.csr_matrix
    user_category_days: sp.csr_matrix
    user_item_views: sp.csr_matrix
    user_item_carts: sp.csr_matrix
    user_item_purchases: sp.csr_matrix
    user_item_days: sp.csr_matrix
    recent: sp.csr_matrix  # users × items, event weights decayed by age (co-visitation input)

    def user_rows(self, rows: np.ndarray) -> dict[str, np.ndarray | sp.spmatrix]:
        """The per-user arrays (``USER_FIELDS``) of the history rows ``rows``, in that order."""
        return {name: getattr(self, name)[rows] for name in USER_FIELDS}

    @property
    def cut(self) -> pd.Timestamp:
        return pd.Timestamp(int(self.cut_seconds[0]), unit="s", tz="UTC")

    @property
    def n_items(self) -> int:
        return len(self.item_category)

    def arrays(self) -> dict[str, np.ndarray | sp.spmatrix]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray | sp.spmatrix]) -> Snapshot:
        return cls(**{f.name: arrays[f.name] for f in fields(cls)})


# The snapshot's arrays with one row per history user (the rest are per item or global).
USER_FIELDS: tuple[str, ...] = (
    "user_events",
    "user_items",
    "user_last_days",
    "user_mean_log_price",
    "user_category_share",
    "user_recent_category_share",
    "user_top_category_share",
    "user_brand_share",
    "user_category_days",
    "user_item_views",
    "user_item_carts",
    "user_item_purchases",
    "user_item_days",
    "recent",
)


def _per_row_cut(
    cut: pd.Timestamp | np.ndarray | pd.DatetimeIndex, n_users: int
) -> tuple[pd.Timestamp, pd.DatetimeIndex | None]:
    """The latest cut, and the cut of each history row (None: one cut for everybody)."""
    if isinstance(cut, pd.Timestamp) or np.ndim(cut) == 0:
        return pd.Timestamp(cut), None
    rows = pd.DatetimeIndex(cut)
    if len(rows) != n_users:
        raise ValueError(f"build_snapshot: {len(rows)} cut times for {n_users} history users")
    if n_users and (rows == rows[0]).all():
        return rows[0], None
    return rows.max(), rows


def build_snapshot(
    events: pd.DataFrame,
    items: pd.DataFrame,
    history: Interactions,
    cut: pd.Timestamp | np.ndarray | pd.DatetimeIndex,
    event_weights: dict[str, float],
    windows_days: list[int],
    recency_half_life_days: float,
) -> Snapshot:
    """The state of every history user and catalogue item from the events before ``cut``: one
    moment, or one per history user (aligned with ``history.user_ids``)."""
    catalogue = history.item_ids
    n_items, n_users = len(catalogue), history.shape[0]
    cut, row_cut = _per_row_cut(cut, n_users)
    table = items.drop_duplicates("item_id").set_index("item_id").reindex(catalogue)
    item_category, category_names = _codes(table["category"])
    top = table["category"].astype("string").fillna("").str.split("/", n=1).str[0]
    item_top, top_names = _codes(top)
    item_brand, brand_names = _codes(table["brand"])
    price = pd.to_numeric(table["price"], errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        item_log_price = np.where(price > 0, np.log1p(price), np.nan).astype(np.float32)
    if "available" in table.columns:
        available = table["available"].astype("boolean").fillna(True).to_numpy(dtype=np.float32)
    else:
        available = np.ones(n_items, dtype=np.float32)

    # the columns as integers (positions, event-type codes): no copy of the events frame
    rows = history.user_positions(events["user_id"])
    cols = history.item_positions(events["item_id"])
    timestamp = events["timestamp"]
    keep = (rows >= 0) & (cols >= 0)
    if row_cut is None:
        keep &= (timestamp < cut).to_numpy(bool)
    else:  # each event before its own user's cut
        own = row_cut[np.where(keep, rows, 0)]
        keep &= (timestamp < own).to_numpy(bool)
    kinds, kind_names = pd.factorize(events["event_type"])
    kind_names = np.asarray(kind_names, dtype=str)
    timestamp, kinds = timestamp[keep], kinds[keep]
    rows, cols = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    cut_s = (cut - _EPOCH).total_seconds()
    age_days = (cut - timestamp).dt.total_seconds().to_numpy() / _DAY
    if row_cut is None:
        user_age_days = age_days
    else:  # a user's ages from the user's own cut
        own = row_cut[rows]
        user_age_days = (own - pd.DatetimeIndex(timestamp)).total_seconds().to_numpy()
        user_age_days = user_age_days / _DAY
    kind_weight = pd.Series(kind_names).map(event_weights).fillna(0.0).to_numpy(np.float64)
    weight = np.append(kind_weight, 0.0)[kinds]  # a missing event type (code -1) weighs 0

    def of_kind(name: str) -> np.ndarray:
        found = np.flatnonzero(kind_names == name)
        return kinds == (found[0] if len(found) else -2)

    windows = sorted(set(int(w) for w in windows_days))
    item_users = np.stack(
        [
            _distinct_count(cols[age_days <= w], rows[age_days <= w], n_items, n_users)
            for w in windows
        ]
        + [_distinct_count(cols, rows, n_items, n_users)]
    )
    buying = ~of_kind("view") & (kinds >= 0) & (age_days <= windows[-1])
    item_buyers = _distinct_count(cols[buying], rows[buying], n_items, n_users)
    first = np.full(n_items, np.nan)
    last = np.full(n_items, np.nan)
    if len(cols):
        first_seen = np.full(n_items, -np.inf)
        np.maximum.at(first_seen, cols, age_days)
        first = np.where(np.isfinite(first_seen), first_seen, np.nan)
        last_seen = np.full(n_items, np.inf)
        np.minimum.at(last_seen, cols, age_days)
        last = np.where(np.isfinite(last_seen), last_seen, np.nan)
    middle = windows[len(windows) // 2]
    recent = age_days <= middle
    category_users = _distinct_count(
        item_category[cols[recent]], rows[recent], len(category_names), n_users
    )

    user_events = np.bincount(rows, minlength=n_users).astype(np.float32)
    user_items = _distinct_count(rows, cols, n_users, n_items)
    user_last = np.full(n_users, np.inf)
    if len(rows):
        np.minimum.at(user_last, rows, user_age_days)
    user_last = np.where(np.isfinite(user_last), user_last, np.nan)
    log_price = item_log_price[cols].astype(np.float64)
    priced = np.isfinite(log_price)
    price_sum = np.bincount(rows[priced], weights=log_price[priced], minlength=n_users)
    price_n = np.bincount(rows[priced], minlength=n_users)
    user_mean_log_price = np.where(price_n > 0, price_sum / np.maximum(price_n, 1), np.nan).astype(
        np.float32
    )

    shape_c = (n_users, len(category_names))
    days_plus = (user_age_days + 1.0).astype(np.float32)
    decay = np.exp(-np.log(2.0) * user_age_days / recency_half_life_days)

    def count(mask: np.ndarray) -> sp.csr_matrix:
        return cell_matrix(rows[mask], cols[mask], np.ones(int(mask.sum())), (n_users, n_items))

    return Snapshot(
        cut_seconds=np.array([int(cut_s)], dtype=np.int64),
        windows=np.asarray(windows, dtype=np.int64),
        item_category=item_category,
        item_top_category=item_top,
        item_brand=item_brand,
        category_names=category_names,
        top_category_names=top_names,
        brand_names=brand_names,
        item_titles=table["title"].astype("string").fillna("").to_numpy(dtype=str),
        item_log_price=item_log_price,
        item_available=available,
        item_users=item_users.astype(np.float32),
        item_buyers=item_buyers,
        item_first_days=first.astype(np.float32),
        item_last_days=last.astype(np.float32),
        category_users=category_users,
        user_events=user_events,
        user_items=user_items,
        user_last_days=user_last.astype(np.float32),
        user_mean_log_price=user_mean_log_price,
        user_category_share=_row_share(cell_matrix(rows, item_category[cols], weight, shape_c)),
        user_recent_category_share=_row_share(
            cell_matrix(rows, item_category[cols], weight * decay, shape_c)
        ),
        user_top_category_share=_row_share(
            cell_matrix(rows, item_top[cols], weight, (n_users, len(top_names)))
        ),
        user_brand_share=_row_share(
            cell_matrix(rows, item_brand[cols], weight, (n_users, len(brand_names)))
        ),
        user_category_days=cell_matrix(rows, item_category[cols], days_plus, shape_c, "min"),
        user_item_views=count(of_kind("view")),
        user_item_carts=count(of_kind("addtocart")),
        user_item_purchases=count(of_kind("purchase")),
        user_item_days=cell_matrix(rows, cols, days_plus, (n_users, n_items), "min"),
        recent=cell_matrix(rows, cols, weight * decay, (n_users, n_items)),
    )
