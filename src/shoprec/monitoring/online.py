"""Online quality: did shoppers act on what they were shown?

An impression is *followed* when the same user added to cart or bought one of its items
within ``attribution_hours`` after it was served. The followed share of each model version's
own lists (not the popular fallback) gets a 95% Wilson interval; a version is a breach when
the upper end is below ``min_followed_share`` (the data show it is lower, not just noisy).
Impressions served less than ``attribution_hours`` before ``now`` are left out: their window
has not closed yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from shoprec.config import MonitoringParams
from shoprec.monitoring.stats import wilson_interval
from shoprec.monitoring.verdict import Check, Statistic, not_judged

NAME = "online quality"
FOLLOW_EVENTS = ("addtocart", "purchase")


def followed(impressions: pd.DataFrame, events: pd.DataFrame, hours: float) -> np.ndarray:
    """For each impression (row order kept): whether its user had an add-to-cart or purchase
    of one of its items in ``(served_at, served_at + hours]``."""
    out = np.zeros(len(impressions), dtype=bool)
    if impressions.empty or events.empty:
        return out
    acts = events[events["event_type"].isin(FOLLOW_EVENTS)]
    acts = pd.DataFrame(
        {
            "user_id": acts["user_id"].astype(str).to_numpy(),
            "item_id": acts["item_id"].astype(str).to_numpy(),
            "timestamp": pd.to_datetime(acts["timestamp"], utc=True).to_numpy(),
        }
    )
    shown = pd.DataFrame(
        {
            "row": np.arange(len(impressions)),
            "user_id": impressions["user_id"].astype(str).to_numpy(),
            "served_at": pd.to_datetime(impressions["served_at"], utc=True).to_numpy(),
            "item_id": impressions["items"].to_numpy(),
        }
    ).explode("item_id")
    shown = shown[shown["item_id"].notna()]
    shown["item_id"] = shown["item_id"].astype(str)
    pairs = shown.merge(acts, on=["user_id", "item_id"])
    window = np.timedelta64(int(hours * 3600 * 1e6), "us")
    inside = (pairs["timestamp"] > pairs["served_at"]) & (
        pairs["timestamp"] <= pairs["served_at"] + window
    )
    out[pairs.loc[inside, "row"].unique()] = True
    return out


def online_quality(
    impressions: pd.DataFrame | None,
    events: pd.DataFrame,
    p: MonitoringParams,
    now: datetime,
    why_none: str = "",
) -> Check:
    """One statistic per model version served in the window (``impressions``, any version)."""
    threshold = p.min_followed_share
    if impressions is None:
        return Check(NAME, [not_judged("followed share", "min", threshold, why_none)], [why_none])
    closed = pd.Timestamp(now) - timedelta(hours=p.attribution_hours)
    ripe = impressions[
        (pd.to_datetime(impressions["served_at"], utc=True) <= closed) & ~impressions["fallback"]
    ].reset_index(drop=True)
    notes = [
        f"impressions served after {closed.isoformat()} are left out (their "
        f"{p.attribution_hours:g} h window has not closed); fallback lists are not counted"
    ]
    hits = followed(ripe, events, p.attribution_hours)
    stats = []
    # a model served from a local folder has no version: its own group, not NaN != NaN
    version_of = ripe["version"].astype("Int64").fillna(-1)
    versions = pd.DataFrame({"model": ripe["model"], "version": version_of}).drop_duplicates()
    for model, version in versions.itertuples(index=False):
        mask = ((ripe["model"] == model) & (version_of == version)).to_numpy()
        n, k = int(mask.sum()), int(hits[mask].sum())
        label = f"followed share, {model} " + (f"v{version}" if version >= 0 else "(a folder)")
        if n < p.min_impressions:
            why = f"{n} impressions, fewer than monitoring.min_impressions ({p.min_impressions})"
            stats.append(not_judged(label, "min", threshold, why, current={"impressions": n}))
            continue
        low, high = wilson_interval(k, n)
        stats.append(
            Statistic(
                label,
                k / n,
                "min",
                threshold,
                judged=high,
                interval=(low, high),
                current={"impressions": n, "followed": k},
                note="breach when the interval's upper end is below the threshold",
            )
        )
    if not stats:
        why = "no model impressions whose attribution window has closed"
        stats.append(not_judged("followed share", "min", threshold, why))
    return Check(NAME, stats, notes)
