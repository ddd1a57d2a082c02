"""Data drift on hand-made events against their own profile."""

from __future__ import annotations

import pandas as pd

from shoprec.config import MonitoringParams
from shoprec.evaluation.profiles import data_profile
from shoprec.monitoring.drift import data_drift
from tests.monitoring.shop import CLEAN_MIX, FLIPPED_MIX, catalogue, latest_events

PARAMS = MonitoringParams(min_events=50)


def by_name(check) -> dict:
    return {s.name: s for s in check.statistics}


def test_the_training_data_itself_shows_no_drift():
    events = latest_events(CLEAN_MIX)
    check = data_drift(data_profile(events, catalogue()), events, catalogue(), PARAMS)
    assert check.verdict == "ok"
    for stat in check.statistics:
        assert stat.value == 0, stat


def test_a_flipped_event_mix_breaches_only_the_event_mix():
    profile = data_profile(latest_events(CLEAN_MIX, seed=1), catalogue())
    check = data_drift(profile, latest_events(FLIPPED_MIX, seed=1), catalogue(), PARAMS)
    stats = by_name(check)
    assert check.verdict == "breach"
    assert [s.name for s in check.breaches] == ["event mix"]
    assert stats["event mix"].current["purchase"] > 0.7 > stats["event mix"].reference["purchase"]
    # another draw of the same shop stays under every threshold
    again = data_drift(profile, latest_events(CLEAN_MIX, seed=2), catalogue(), PARAMS)
    assert again.verdict == "ok", again.breaches


def test_new_items_dearer_prices_and_new_categories_breach():
    events = latest_events(CLEAN_MIX)
    profile = data_profile(events, catalogue())
    later = events.copy()
    later.loc[later.index[::2], "item_id"] = "new-item"  # half the events on an unseen item
    items = pd.concat(
        [catalogue(), pd.DataFrame({"item_id": ["new-item"], "category": ["toys"], "price": [900]})]
    )
    stats = by_name(data_drift(profile, later, items, PARAMS))
    assert stats["new-item share"].value == 0.5 and stats["new-item share"].verdict == "breach"
    assert stats["price"].verdict == "breach" and stats["category"].verdict == "breach"
    assert stats["category"].current["toys"] == 0.5


def test_too_few_events_are_not_judged():
    events = latest_events(CLEAN_MIX)
    check = data_drift(data_profile(events, catalogue()), events.iloc[:10], catalogue(), PARAMS)
    assert check.verdict == "not judged" and not check.breaches
    assert {s.verdict for s in check.statistics} == {"not judged"}
    assert "fewer than monitoring.min_events (50)" in check.statistics[0].note
