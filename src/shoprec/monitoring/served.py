"""Recommendation drift: what the service served against what the same version recommended
offline when it was registered (its ``served_profile``).

Only the version's own lists count (``endpoint`` ``recommendations``, not the popular
fallback, each cut to the offline K): catalogue coverage (at the same number of lists, since
coverage grows with them), popularity bias (mean training popularity of a served item) and
novelty (mean self-information), each as served / offline; and the share of impressions
answered by the fallback, against its own ceiling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprec.config import MonitoringParams
from shoprec.evaluation.profiles import coverage_curve, list_statistics
from shoprec.monitoring.verdict import Check, Statistic, not_judged

NAME = "recommendation drift"
ENDPOINT = "recommendations"


def _ratio(served: float | None, offline: float | None) -> float | None:
    if served is None or not offline:
        return None
    return served / offline


def recommendation_drift(
    data_profile: dict,
    served_profile: dict | None,
    impressions: pd.DataFrame | None,
    p: MonitoringParams,
    why_none: str = "",
) -> Check:
    """The check of ``impressions`` (this version's, in the window; None: no log)."""
    rules = {
        "catalogue coverage ratio": ("min", p.min_coverage_ratio),
        "popularity ratio": ("max", p.max_popularity_ratio),
        "novelty ratio": ("min", p.min_novelty_ratio),
        "fallback share": ("max", p.max_fallback_share),
    }
    count = 0 if impressions is None else len(impressions)
    if impressions is None or count < p.min_impressions:
        why = why_none or (
            f"{count} impressions of this version, fewer than monitoring.min_impressions "
            f"({p.min_impressions})"
        )
        return Check(NAME, [not_judged(n, r, t, why) for n, (r, t) in rules.items()], [why])
    fallback = impressions["fallback"].astype(bool)
    own = impressions[~fallback & (impressions["endpoint"] == ENDPOINT)]
    k = (served_profile or {}).get("k")
    lists = [np.asarray(items[:k] if k else items, dtype=str) for items in own["items"]]
    lists = [x for x in lists if x.size]
    served = list_statistics(
        lists, data_profile["item_users"], data_profile["users"], data_profile["known_items"]
    )
    notes = []
    stats = []
    if served_profile is None:
        note = "no served_profile in this version's manifest (registered before profiles)"
        notes.append(note + ": the offline comparison is skipped")
        stats += [not_judged(n, *rules[n], note) for n in list(rules)[:3]]
    else:
        curve = served_profile.get("coverage_curve", {})
        counts = [int(c) for c in curve if int(c) <= len(lists)]
        if counts:
            at = max(counts)
            mine = coverage_curve(lists, data_profile["known_items"])[str(at)]
            stats.append(
                Statistic(
                    "catalogue coverage ratio",
                    _ratio(mine, curve[str(at)]),
                    *rules["catalogue coverage ratio"],
                    reference=curve[str(at)],
                    current=mine,
                    note=f"coverage of {at} lists",
                )
            )
        else:
            stats.append(
                not_judged(
                    "catalogue coverage ratio",
                    *rules["catalogue coverage ratio"],
                    f"{len(lists)} model lists, fewer than the smallest count measured offline",
                )
            )
        for name, key in (("popularity ratio", "popularity"), ("novelty ratio", "novelty")):
            stats.append(
                Statistic(
                    name,
                    _ratio(served[key], served_profile.get(key)),
                    *rules[name],
                    reference=served_profile.get(key),
                    current=served[key],
                    note="" if served[key] is not None else "no model lists served",
                )
            )
    stats.append(
        Statistic(
            "fallback share",
            float(fallback.mean()),
            *rules["fallback share"],
            current={"impressions": count, "fallback": int(fallback.sum())},
        )
    )
    return Check(NAME, stats, notes)
