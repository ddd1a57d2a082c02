"""Recommendation drift: served lists against the same version's offline lists."""

from __future__ import annotations

import pandas as pd
import pytest

from shoprec.config import MonitoringParams
from shoprec.evaluation.profiles import data_profile, served_profile
from shoprec.impressions import COLUMNS, impression
from shoprec.monitoring.served import recommendation_drift
from tests.monitoring.shop import NOW, catalogue, served_impressions

PARAMS = MonitoringParams(min_impressions=50)


@pytest.fixture(scope="module")
def profiles(batch_shop):
    model = batch_shop["model"]
    data = data_profile(pd.read_parquet(batch_shop["events"]), catalogue())
    rows = range(model.history.shape[0])
    return data, served_profile(model, list(rows), 10, data)


def shown(batch_shop, users: list[str], fallback_every: int = 0) -> pd.DataFrame:
    rows = served_impressions(batch_shop["model"], users, NOW - pd.Timedelta(days=1))
    for n, row in enumerate(rows):
        if fallback_every and n % fallback_every == 0:
            row["fallback"] = True
    return pd.DataFrame(rows, columns=list(COLUMNS))


def by_name(check) -> dict:
    return {s.name: s for s in check.statistics}


def test_lists_like_the_offline_ones_do_not_drift(batch_shop, profiles):
    users = [f"u{u:05d}" for u in range(0, 600, 2)]
    check = recommendation_drift(*profiles, shown(batch_shop, users), PARAMS)
    stats = by_name(check)
    assert check.verdict == "ok", check.breaches
    for name in ("catalogue coverage ratio", "popularity ratio", "novelty ratio"):
        assert stats[name].value == pytest.approx(1.0, abs=0.15), name
    assert stats["catalogue coverage ratio"].note == "coverage of 300 lists"
    assert stats["fallback share"].value == 0


def test_popular_lists_and_many_fallbacks_breach(batch_shop, profiles):
    data, served = profiles
    top = sorted(data["item_users"], key=data["item_users"].get, reverse=True)[:5]
    rows = [
        impression(f"r{n}", f"u{n:05d}", "itemknn", 1, n % 3 == 0, top, served_at=NOW)
        for n in range(200)
    ]
    stats = by_name(recommendation_drift(data, served, pd.DataFrame(rows), PARAMS))
    assert stats["popularity ratio"].verdict == "breach" and stats["popularity ratio"].value > 1.5
    assert stats["novelty ratio"].verdict == "breach"
    assert stats["catalogue coverage ratio"].verdict == "breach"
    assert stats["fallback share"].value == pytest.approx(67 / 200)
    strict = PARAMS.model_copy(update={"max_fallback_share": 0.2})
    assert (
        by_name(recommendation_drift(data, served, pd.DataFrame(rows), strict))[
            "fallback share"
        ].verdict
        == "breach"
    )


def test_too_few_impressions_and_no_offline_profile_are_not_judged(batch_shop, profiles):
    data, served = profiles
    few = recommendation_drift(data, served, shown(batch_shop, ["u00000", "u00002"]), PARAMS)
    assert few.verdict == "not judged" and not few.breaches
    assert "2 impressions of this version, fewer than monitoring.min_impressions" in few.notes[0]
    users = [f"u{u:05d}" for u in range(100)]
    old = recommendation_drift(data, None, shown(batch_shop, users, fallback_every=1), PARAMS)
    stats = by_name(old)
    assert {stats[n].verdict for n in list(stats)[:3]} == {"not judged"}
    assert "offline comparison is skipped" in old.notes[0]
    assert stats["fallback share"].verdict == "breach"  # judged without the offline lists
    none = recommendation_drift(data, served, None, PARAMS, "serving.impressions is empty")
    assert none.verdict == "not judged" and none.notes == ["serving.impressions is empty"]
