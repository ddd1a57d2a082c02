"""Data drift: the latest events and items against the production version's training data.

Five statistics against its ``data_profile`` (``shoprec.evaluation.profiles``): the event mix
and the top-level categories of the interacted items by Jensen-Shannon distance, distinct
items per user and active day and the interacted items' prices by normed Wasserstein
distance, and the share of events on items the version never saw.
"""

from __future__ import annotations

import pandas as pd

from shoprec.config import MonitoringParams
from shoprec.evaluation.profiles import (
    OTHER,
    interacted_items,
    items_per_user_day,
    numeric_summary,
)
from shoprec.monitoring.stats import js_distance, normed_wasserstein
from shoprec.monitoring.verdict import Check, Statistic, not_judged

NAME = "data drift"


def _shares(counts: dict) -> dict[str, float]:
    total = sum(counts.values())
    return {str(k): v / total for k, v in counts.items()} if total else {}


def _categories(latest: pd.Series, reference: dict) -> dict[str, int]:
    """The latest counts per category; with an ``OTHER`` bucket in the reference, categories
    it did not name go there (as they did when it was built)."""
    counts = latest.value_counts()
    if OTHER in reference:
        counts = counts.groupby(lambda c: c if c in reference else OTHER).sum()
    return {str(k): int(v) for k, v in counts.items()}


def _numeric(name: str, reference: dict, values, threshold: float) -> Statistic:
    current = numeric_summary(values)
    if not reference.get("n"):
        return not_judged(name, "max", threshold, "the reference has no values")
    if not current["n"]:
        return not_judged(name, "max", threshold, "the latest events have no values")
    summary = {k: reference[k] for k in ("n", "mean", "std")}
    latest = {k: current[k] for k in ("n", "mean", "std")}
    distance = normed_wasserstein(reference, values)
    return Statistic(name, distance, "max", threshold, reference=summary, current=latest)


def data_drift(
    profile: dict, events: pd.DataFrame, items: pd.DataFrame | None, p: MonitoringParams
) -> Check:
    """The data-drift check of ``events`` (the latest window) and ``items``."""
    names = ("event mix", "items per user and day", "price", "category", "new-item share")
    rules = (
        ("max", p.max_event_mix_distance),
        ("max", p.max_items_per_user_distance),
        ("max", p.max_price_distance),
        ("max", p.max_category_distance),
        ("max", p.max_new_item_share),
    )
    if len(events) < p.min_events:
        why = f"{len(events)} latest events, fewer than monitoring.min_events ({p.min_events})"
        stats = [not_judged(n, r, t, why) for n, (r, t) in zip(names, rules, strict=True)]
        return Check(NAME, stats, [why])
    mix = {str(k): int(v) for k, v in events["event_type"].value_counts().items()}
    interacted = interacted_items(events, items)
    categories = _categories(pd.Series(interacted["category"]), profile["category"])
    known = set(profile["item_users"])
    new = ~interacted["item_id"].isin(known)
    stats = [
        Statistic(
            names[0],
            js_distance(profile["event_mix"], mix),
            *rules[0],
            reference=_shares(profile["event_mix"]),
            current=_shares(mix),
        ),
        _numeric(names[1], profile["items_per_user_day"], items_per_user_day(events), rules[1][1]),
        _numeric(names[2], profile["price"], interacted["price"], rules[2][1]),
        Statistic(
            names[3],
            js_distance(profile["category"], categories),
            *rules[3],
            reference=_shares(profile["category"]),
            current=_shares(categories),
        ),
        Statistic(
            names[4],
            float(new.mean()),
            *rules[4],
            reference={"known_items": profile["known_items"]},
            current={
                "events_on_new_items": int(new.sum()),
                "new_items": int(interacted.loc[new, "item_id"].nunique()),
            },
        ),
    ]
    return Check(NAME, stats)
