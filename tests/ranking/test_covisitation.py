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


def _reference_sessions(events: pd.DataFrame, gap_minutes: float) -> list[int]:
    """Sessions the slow way: each user's rows in time order (ties in row order), a new one
    at a new session id or a pause over the limit."""
    numbers = [0] * len(events)
    session = -1
    for _, rows in sorted(events.groupby("user_id").groups.items()):
        previous = None
        for row in sorted(rows, key=lambda r: (events.at[r, "timestamp"], r)):
            now = events.loc[row]
            if previous is None:
                session += 1
            elif "session_id" in events.columns:
                sid = lambda r: "" if pd.isna(r["session_id"]) else r["session_id"]  # noqa: E731
                session += sid(now) != sid(previous)
            else:
                pause = (now["timestamp"] - previous["timestamp"]).total_seconds()
                session += pause > gap_minutes * 60
            numbers[row] = session
            previous = now
    return numbers


def _same_partition(a, b) -> bool:
    pairs = set(zip(a, b, strict=True))
    return len(pairs) == len(set(a)) == len(set(b))


def test_sessions_and_similarity_match_a_plain_reference():
    """Integer keys (codes, not the ids) give the same sessions and the same similarity as
    working on the ids row by row: ties in time, blank and missing session ids, unknown items."""
    rng = np.random.default_rng(3)
    n = 600
    t = pd.Timestamp("2026-01-01", tz="UTC")
    events = pd.DataFrame(
        {
            "user_id": pd.array(rng.choice([f"u{i}" for i in range(25)], n), dtype="string"),
            "item_id": pd.array(rng.choice([f"i{i}" for i in range(14)], n), dtype="string"),
            "timestamp": t + pd.to_timedelta(rng.integers(0, 600, n) * 5, unit="min"),
        }
    )
    catalogue = np.array([f"i{i}" for i in range(12)])  # i12, i13: not in the catalogue
    sids = rng.choice(["s1", "s2", "", None], n).tolist()
    with_ids = events.assign(session_id=pd.array(sids, dtype="string"))
    for frame in (events, with_ids):
        reference = _reference_sessions(frame, 30)
        assert _same_partition(session_numbers(frame, 30).tolist(), reference)
        # the similarity of the reference sessions, every neighbour kept
        x = np.zeros((max(reference) + 1, len(catalogue)))
        cols = pd.Index(catalogue).get_indexer(frame["item_id"].astype(str))
        for session, col in zip(reference, cols, strict=True):
            if col >= 0:
                x[session, col] = 1.0
        norms = np.sqrt(x.sum(axis=0))
        expected = (x.T @ x) / (norms[:, None] * norms[None, :] + 2.0 + 1e-12)
        np.fill_diagonal(expected, 0.0)
        got = covisitation(frame, catalogue, 30, neighbors=len(catalogue), shrinkage=2.0)
        np.testing.assert_allclose(got.toarray(), expected, rtol=1e-6)
