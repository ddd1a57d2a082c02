"""Inputs of the two-tower model: item content tables and per-moment user states.

A user state at a moment is what the user tower may know then: the last items the user
interacted with (most recent first), counts per event type, time since the previous event and
the user's usual price level, all computed from strictly earlier events. A training example is
the state just before an event plus that event's item; a user "now" is the state at a cut-off
(the start of the validation or test period, the same for everybody or each user's own), so
no later event can leak in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprec.data.schema import EVENT_TYPES
from shoprec.features.tower_inputs import ItemFeatures, UserInputs

BEHAVIOUR_FEATURES = (
    *(f"log_{t}_count" for t in EVENT_TYPES),
    "log_days_since_previous",
    "mean_log_price",
    "has_history",
)


def _text(values: pd.Series, default: str) -> np.ndarray:
    return values.astype("string").fillna(default).replace("", default).to_numpy(dtype=str)


def item_features(
    items: pd.DataFrame, catalogue_ids: np.ndarray, n_price_buckets: int = 16
) -> ItemFeatures:
    """Content of every catalogue item, in catalogue order ("unknown" where a field is absent)."""
    table = items.drop_duplicates("item_id").set_index("item_id").reindex(catalogue_ids)
    category = _text(table["category"], "unknown")
    log_price = np.log1p(table["price"].astype("float64").to_numpy())
    known = np.isfinite(log_price)
    if known.any():
        edges = np.quantile(log_price[known], np.linspace(0, 1, n_price_buckets + 1)[1:-1])
        buckets = np.searchsorted(edges, np.where(known, log_price, 0.0), side="right")
    else:
        buckets = np.zeros(len(table), dtype=np.int64)
    return ItemFeatures(
        item_ids=np.asarray(catalogue_ids, dtype=str),
        category=category,
        top_category=np.array([c.split("/", 1)[0] for c in category], dtype=str),
        brand=_text(table["brand"], "unknown"),
        price_bucket=np.clip(buckets, 0, n_price_buckets - 1).astype(np.int32),
        title=_text(table["title"], ""),
    )


def _states(
    events: pd.DataFrame, catalogue_ids: np.ndarray, history_length: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """For every row of ``events`` (sorted by user, time), the state from the rows before it."""
    item_index = pd.Index(catalogue_ids).get_indexer(events["item_id"].astype(str))
    by_user = events.groupby("user_id", sort=False)
    history = np.full((len(events), history_length), -1, dtype=np.int32)
    shifted = pd.Series(item_index, index=events.index)
    for k in range(1, history_length + 1):
        history[:, k - 1] = shifted.groupby(events["user_id"], sort=False).shift(k).fillna(-1)
    behaviour = np.zeros((len(events), len(BEHAVIOUR_FEATURES)), dtype=np.float32)
    for j, event_type in enumerate(EVENT_TYPES):
        is_type = (events["event_type"] == event_type).astype(np.int64)
        before = is_type.groupby(events["user_id"], sort=False).cumsum() - is_type
        behaviour[:, j] = np.log1p(before.to_numpy())
    previous = by_user["timestamp"].shift(1)
    gap_days = (events["timestamp"] - previous).dt.total_seconds() / 86400.0
    behaviour[:, 3] = np.log1p(gap_days.clip(lower=0).fillna(0.0).to_numpy())
    if "price" in events.columns:
        log_price = np.log1p(events["price"].astype("float64").clip(lower=0)).fillna(0.0)
    else:
        log_price = pd.Series(0.0, index=events.index)
    running = log_price.groupby(events["user_id"], sort=False).cumsum() - log_price
    position = by_user.cumcount()
    behaviour[:, 4] = (running / position.where(position > 0, 1)).to_numpy()
    behaviour[:, 5] = (position > 0).to_numpy(dtype=np.float32)
    return events, history, behaviour


def _sorted(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)


def training_examples(
    events: pd.DataFrame,
    catalogue_ids: np.ndarray,
    event_weights: dict[str, float],
    history_length: int = 20,
) -> tuple[UserInputs, np.ndarray, np.ndarray]:
    """One example per weighted event: (the user's state just before it, its item, its weight)."""
    events = _sorted(events[events["event_type"].map(event_weights).fillna(0) > 0])
    events, history, behaviour = _states(events, catalogue_ids, history_length)
    positives = pd.Index(catalogue_ids).get_indexer(events["item_id"].astype(str))
    keep = positives >= 0
    users = UserInputs(
        user_ids=events["user_id"].to_numpy(dtype=str)[keep],
        history=history[keep],
        behaviour=behaviour[keep],
    )
    weights = events["event_type"].map(event_weights).to_numpy(dtype=np.float32)[keep]
    return users, positives[keep].astype(np.int32), weights


def user_states(
    events: pd.DataFrame,
    user_ids: np.ndarray,
    at: pd.Timestamp | np.ndarray | pd.Series | pd.DatetimeIndex,
    catalogue_ids: np.ndarray,
    history_length: int = 20,
) -> UserInputs:
    """The state of each of ``user_ids`` at ``at`` from its events before ``at``: one moment
    for everybody, or one per user (aligned with ``user_ids``, e.g. ``Cuts.validation_at``;
    the user ids must then be distinct)."""
    user_ids = np.asarray(user_ids, dtype=str)
    if isinstance(at, pd.Timestamp | str) or np.ndim(at) == 0:
        at = pd.Timestamp(at)
        earlier = events[events["timestamp"] < at]
        probe_at = pd.Series([at] * len(user_ids))
    else:
        probe_at = pd.Series(pd.DatetimeIndex(at))
        if len(probe_at) != len(user_ids):
            raise ValueError(f"user_states: {len(probe_at)} cut times for {len(user_ids)} users")
        if len(np.unique(user_ids)) != len(user_ids):
            raise ValueError("user_states: per-user cut times need distinct user ids")
        own_cut = pd.Series(pd.DatetimeIndex(at), index=user_ids)
        known = events[events["user_id"].isin(user_ids)]
        cut = pd.DatetimeIndex(own_cut.reindex(known["user_id"].astype(str)))
        earlier = known[(known["timestamp"] < cut).to_numpy(bool)]
    earlier = earlier[earlier["user_id"].isin(user_ids)]
    probes = pd.DataFrame(
        {
            "user_id": user_ids,
            "item_id": pd.Series([pd.NA] * len(user_ids), dtype="string"),
            "event_type": "probe",
            "timestamp": probe_at.astype(earlier["timestamp"].dtype),
            "_probe": np.arange(len(user_ids)),
        }
    )
    columns = ["user_id", "item_id", "event_type", "timestamp"]
    if "price" in earlier.columns:
        columns.append("price")
        probes["price"] = np.nan
    both = pd.concat([earlier[columns].assign(_probe=-1), probes], ignore_index=True)
    both = both.sort_values(["user_id", "timestamp", "_probe"], kind="stable").reset_index(
        drop=True
    )
    both, history, behaviour = _states(both, catalogue_ids, history_length)
    rows = both["_probe"].to_numpy()
    order = np.argsort(rows[rows >= 0])
    chosen = np.flatnonzero(rows >= 0)[order]
    return UserInputs(
        user_ids=user_ids,
        history=history[chosen],
        behaviour=behaviour[chosen],
    )
