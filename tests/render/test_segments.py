"""The segments table (``shoprec.render.segments``) on hand-made ``metrics/segments.json``
dicts: every model's user and item segments, counts, and a dash for an empty segment."""

from __future__ import annotations

from shoprec.render.segments import segments_table
from shoprec.render.table import to_markdown

SEGMENTS = {
    "segments": {"history_edges": [3, 10], "head_items": 0.2, "head_min_users": 4},
    "models": {
        "ease": {
            "users": {
                "history:1-2": {"users": 0},
                "history:3-9": {"users": 12, "ndcg@10": 0.25, "recall@20": 0.5},
                "history:10+": {"users": 3, "ndcg@10": 0.4, "recall@20": 0.6},
                "arrival:new": {"users": 5, "ndcg@10": 0.05, "recall@20": 0.1},
                "arrival:returning": {"users": 10, "ndcg@10": 0.31, "recall@20": 0.55},
            },
            "items": {
                "head": {"users": 14, "targets": 20, "ndcg@10": 0.3, "recall@20": 0.7},
                "tail": {"users": 6, "targets": 8, "ndcg@10": 0.01, "recall@20": 0.125},
                "new": {"users": 0, "targets": 0},
            },
        },
        "most_popular": {
            "users": {"history:1-2": {"users": 0}},
            "items": {"new": {"users": 2, "targets": 2, "ndcg@10": 0.0, "recall@20": 0.0}},
        },
    },
}


def test_every_segment_of_every_model_with_its_users_and_metrics():
    table = segments_table(SEGMENTS)
    assert table.headers == ["model", "segment", "users", "ndcg@10", "recall@20"]
    rows = table.texts()
    assert [r[1] for r in rows[:8]] == [
        "user history:1-2",
        "user history:3-9",
        "user history:10+",
        "user arrival:new",
        "user arrival:returning",
        "item head",
        "item tail",
        "item new",
    ]
    assert rows[1] == ["ease", "user history:3-9", "12", "0.2500", "0.5000"]
    assert rows[6] == ["ease", "item tail", "6", "0.0100", "0.1250"]
    # a zero is a value, not an empty segment
    assert rows[-1] == ["most_popular", "item new", "2", "0.0000", "0.0000"]


def test_an_empty_segment_shows_its_count_and_dashes():
    rows = segments_table(SEGMENTS).texts()
    assert rows[0] == ["ease", "user history:1-2", "0", "—", "—"]
    assert rows[7] == ["ease", "item new", "0", "—", "—"]
    assert "| user history:1-2 | 0 | — | — |" in to_markdown(segments_table(SEGMENTS))


def test_models_and_metrics_are_chosen():
    table = segments_table(SEGMENTS, columns=("recall@20",), models=["most_popular"])
    assert table.headers[-1] == "recall@20"
    assert table.column("model") == ["most_popular", "most_popular"]


def test_the_notes_say_how_segments_were_drawn_or_that_there_are_none():
    assert "most popular 20% of items" in segments_table(SEGMENTS).notes[0]
    no_share = segments_table({"segments": {"history_edges": [3]}, "models": {}})
    assert "most popular ? of items" in no_share.notes[0]
    assert no_share.notes[-1] == "no segments in this file" and no_share.rows == []
    assert segments_table({}).notes == ["no segments in this file"]
