"""Online quality: the attribution-window join, matured impressions, the interval rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from shoprec.config import MonitoringParams
from shoprec.impressions import COLUMNS, impression
from shoprec.monitoring.online import followed, online_quality

T = datetime(2026, 3, 1, 12, tzinfo=UTC)


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS))


def events(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        [{"user_id": u, "item_id": i, "event_type": e, "timestamp": t} for u, i, e, t in rows]
    )


def test_only_a_cart_or_purchase_of_a_shown_item_by_the_same_user_within_the_window_counts():
    hours = 24
    shown = frame(
        [
            impression(f"r{n}", "u1" if n != 6 else "u2", "m", 1, False, ["a", "b"], served_at=T)
            for n in range(7)
        ]
    )
    cases = [  # one impression each; only the first two are followed
        ("u1", "a", "purchase", T + timedelta(hours=1)),
        ("u1", "b", "addtocart", T + timedelta(hours=24)),  # the window's last instant
        ("u1", "a", "view", T + timedelta(hours=1)),  # a view is not a follow
        ("u1", "c", "purchase", T + timedelta(hours=1)),  # not shown
        ("u1", "a", "purchase", T - timedelta(minutes=1)),  # before it was shown
        ("u1", "a", "purchase", T + timedelta(hours=24, seconds=1)),  # too late
        ("u3", "a", "purchase", T + timedelta(hours=1)),  # another user (impression 6 is u2)
    ]
    got = [followed(shown.iloc[[n]], events(case), hours)[0] for n, case in enumerate(cases)]
    assert got == [True, True, False, False, False, False, False]
    # all the events together: impression rows stay in order
    assert followed(shown, events(*cases), hours).tolist() == [True] * 6 + [False]


def shop_impressions(n: int, start: datetime, version: int = 1) -> pd.DataFrame:
    step = timedelta(minutes=1)
    rows = [
        impression(
            f"v{version}-{i}", f"u{i}", "m", version, False, [f"i{i}"], served_at=start + i * step
        )
        for i in range(n)
    ]
    return frame(rows)


def test_the_followed_share_gets_an_interval_and_breaches_only_when_its_top_is_below():
    p = MonitoringParams(min_impressions=100, min_followed_share=0.2, attribution_hours=2)
    now = T + timedelta(days=1)
    shown = shop_impressions(400, T)
    buys = shown.iloc[::20]  # 5% followed, an hour later
    acts = events(
        *[
            (r.user_id, r.items[0], "purchase", r.served_at + timedelta(hours=1))
            for r in buys.itertuples()
        ]
    )
    check = online_quality(shown, acts, p, now)
    (stat,) = check.statistics
    assert stat.name == "followed share, m v1" and stat.value == 0.05
    low, high = stat.interval
    assert low < 0.05 < high < 0.2 and stat.judged == high
    assert stat.verdict == "breach" and stat.current == {"impressions": 400, "followed": 20}
    lenient = online_quality(shown, acts, p.model_copy(update={"min_followed_share": 0.06}), now)
    assert lenient.verdict == "ok"  # 5% measured, but 6% is inside the interval: no breach


def test_impressions_whose_window_is_open_and_small_versions_are_not_judged():
    p = MonitoringParams(min_impressions=100, attribution_hours=24)
    now = T + timedelta(hours=12)  # every impression is less than 24 h old
    check = online_quality(shop_impressions(400, T), events(), p, now)
    assert check.verdict == "not judged"
    assert "window has closed" in check.statistics[0].note
    both = pd.concat([shop_impressions(400, T), shop_impressions(30, T, version=2)])
    check = online_quality(both, events(), p, T + timedelta(days=2))
    verdicts = {s.name: s.verdict for s in check.statistics}
    assert verdicts == {"followed share, m v1": "ok", "followed share, m v2": "not judged"}
    assert np.isnan(check.statistics[1].value or np.nan)
