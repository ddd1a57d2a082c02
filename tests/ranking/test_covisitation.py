"""Sessions and co-visitation: items of the same session are linked, others are not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shoprec.ranking.covisitation import covisitation, session_numbers


def test_co_visitation_links_items_of_the_same_session():
    t = pd.Timestamp("2026-01-01", tz="UTC")
    minute = pd.Timedelta(minutes=1)
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b"],
            "item_id": ["x", "y", "z", "x", "y"],
            "timestamp": [t, t + minute, t + 90 * minute, t, t + minute],
        }
    )
    sessions = session_numbers(events, 30)
    assert sessions[0] == sessions[1] != sessions[2]  # a 90-minute pause starts a new one
    assert len(set(sessions.tolist())) == 3
    with_ids = events.assign(session_id=["s1", "s2", "s2", "s3", "s3"])
    assert len(set(session_numbers(with_ids, 30).tolist())) == 3
    similarity = covisitation(events, np.array(["x", "y", "z"]), 30, neighbors=5, shrinkage=0)
    assert similarity[0, 1] > 0 and similarity[1, 0] > 0
    assert similarity[0, 2] == 0 and similarity[1, 2] == 0
