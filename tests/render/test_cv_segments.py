"""The cross-validation and segments tables: every fold and model, the spread, empty segments."""

from __future__ import annotations

from shoprec.render.cv import cv_table
from shoprec.render.segments import segments_table
from shoprec.render.table import to_markdown

CV = {
    "folds": {
        "1": {
            "window": {"test_start": "2026-01-19T00:00:00+00:00", "test_end": "2026-01-26T00:00"},
            "test_users": 80,
            "metrics": {"ease": {"ndcg@10": 0.0858, "recall@20": 0.2}},
        },
        "0": {
            "window": {"test_start": "2026-02-02T00:00:00+00:00", "test_end": "2026-02-09T00:00"},
            "test_users": 95,
            "metrics": {"ease": {"ndcg@10": 0.1355, "recall@20": 0.3}},
        },
    },
    "summary": {
        "ease": {
            "ndcg@10": {"mean": 0.11065, "std": 0.0351, "min": 0.0858, "folds": 2},
            "recall@20": {"mean": 0.25, "std": 0.0707, "min": 0.2, "folds": 2},
        }
    },
}


def test_the_cv_table_has_a_row_per_fold_and_model_in_fold_order_and_the_spread():
    text = to_markdown(cv_table(CV))
    lines = [line for line in text.splitlines() if "ease" in line]
    assert "0 (test 2026-02-02 to 2026-02-09, 95 users)" in lines[0] and "0.1355" in lines[0]
    assert "1 (test 2026-01-19" in lines[1] and "0.0858" in lines[1]
    assert "0.1106 ± 0.0351" in lines[2] and "(0.0858)" in lines[2]


def test_a_cv_summary_without_folds_says_so():
    table = cv_table({"folds": {}, "summary": {}, "note": "evaluation.cv.folds is empty"})
    assert table.rows == [] and table.notes == ["evaluation.cv.folds is empty"]


def test_the_segments_table_shows_counts_and_a_dash_for_an_empty_segment():
    segments = {
        "segments": {"history_edges": [3, 10], "head_items": 0.2},
        "models": {
            "ease": {
                "users": {
                    "history:1-2": {"users": 0},
                    "history:3-9": {"users": 12, "ndcg@10": 0.25, "recall@20": 0.5},
                },
                "items": {"new": {"users": 4, "targets": 5, "recall@20": 0.0}},
            }
        },
    }
    rows = [[c.text for c in row] for row in segments_table(segments).rows]
    assert rows[0] == ["ease", "user history:1-2", "0", "—", "—"]
    assert rows[1] == ["ease", "user history:3-9", "12", "0.2500", "0.5000"]
    assert rows[2] == ["ease", "item new", "4", "—", "0.0000"]
    assert "20%" in segments_table(segments).notes[0]
