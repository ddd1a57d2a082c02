"""The gate on cross-validation folds and segments: folds won against the best baseline of each
fold and against production where its registered fold has the same window, ``min_folds_won``,
and the weakest segment, all shown in the verdict table."""

from __future__ import annotations

from shoprec.config import GateParams
from shoprec.release.gate import GateResult, fold_checks, segment_checks
from shoprec.render.gate import gate_table
from shoprec.render.table import to_markdown

BASELINES = ["most_popular", "ease"]


def window(k: int) -> dict:
    return {"strategy": "temporal", "test_start": f"2026-01-{20 - 7 * k:02d}T00:00:00+00:00"}


def fold(k: int, ours: float, ease: float, popular: float = 0.01) -> dict:
    return {
        "window": window(k),
        "metrics": {
            "two_stage": {"ndcg@10": ours},
            "ease": {"ndcg@10": ease},
            "most_popular": {"ndcg@10": popular},
        },
    }


CV = {"folds": {"0": fold(0, 0.12, 0.10), "1": fold(1, 0.09, 0.10), "2": fold(2, 0.11, 0.08)}}


def gate(**settings) -> GateParams:
    return GateParams(model="two_stage", **settings)


def test_each_fold_gets_a_row_with_its_lift_over_the_best_baseline():
    rows = fold_checks("two_stage", CV, BASELINES, gate(), {}, None)
    assert [r.threshold for r in rows] == ["won", "lost", "won"]
    assert all(r.kind == "info" and r.passed for r in rows)
    assert abs(rows[0].value - (0.12 / 0.10 - 1)) < 1e-9
    assert "ease 0.1000" in rows[1].detail and "-10.0%" in rows[1].detail


def test_min_folds_won_fails_when_too_few_folds_are_won():
    rows = fold_checks("two_stage", CV, BASELINES, gate(min_folds_won=3), {}, None)
    count = rows[-1]
    assert count.name == "folds won" and count.value == 2.0 and not count.passed
    assert "won 2 of 3" in count.detail
    assert fold_checks("two_stage", CV, BASELINES, gate(min_folds_won=2), {}, None)[-1].passed


def test_min_folds_won_without_folds_fails_and_says_what_to_do():
    count = fold_checks("two_stage", {}, BASELINES, gate(min_folds_won=1), {}, None)[-1]
    assert not count.passed and "evaluation.cv.folds" in count.detail


def test_production_counts_only_on_folds_with_the_same_window():
    champion = {
        "folds": {
            "0": {"window": window(0), "metrics": {"ndcg@10": 0.13}},  # better than ours
            "2": {"window": window(5), "metrics": {"ndcg@10": 0.50}},  # another window
        }
    }
    rows = fold_checks("two_stage", CV, BASELINES, gate(min_folds_won=1), champion, 4)
    assert rows[0].threshold == "lost" and "v4 0.1300" in rows[0].detail
    assert rows[2].threshold == "won" and "v4 not compared" in rows[2].detail
    assert rows[-1].value == 1.0 and rows[-1].passed


def test_the_weakest_segment_is_named_and_small_segments_are_skipped():
    segments = {
        "models": {
            "two_stage": {
                "users": {
                    "history:1-2": {"users": 50, "ndcg@10": 0.02},
                    "history:10+": {"users": 80, "ndcg@10": 0.20},
                    "arrival:new": {"users": 5, "ndcg@10": 0.0},
                },
                "items": {"new": {"users": 30, "targets": 40, "ndcg@10": 0.05}},
            },
            "ease": {
                "users": {
                    "history:1-2": {"users": 50, "ndcg@10": 0.06},
                    "history:10+": {"users": 80, "ndcg@10": 0.10},
                    "arrival:new": {"users": 5, "ndcg@10": 0.3},
                },
                "items": {"new": {"users": 30, "targets": 40, "ndcg@10": 0.0}},
            },
        }
    }
    (row,) = segment_checks("two_stage", segments, "ease", gate(min_segment_users=20))
    assert row.kind == "info" and row.passed
    assert "user history:1-2 (50 users)" in row.detail
    assert abs(row.value - (-0.04)) < 1e-9


def test_info_rows_show_in_the_verdict_table_and_never_fail_it():
    result = GateResult(
        "two_stage", "ndcg@10", fold_checks("two_stage", CV, BASELINES, gate(), {}, None)
    )
    assert result.passed
    text = to_markdown(gate_table(result.as_dict()))
    assert "fold 1 (2026-01-13)" in text and "info" in text and "PASSED" in text
