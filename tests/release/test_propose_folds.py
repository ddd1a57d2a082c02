"""What propose reads of the cross-validation folds: only the folds params list (a stale
metrics/cv.json is refused), and what the manifest keeps of them for a later gate."""

from __future__ import annotations

import json

import pytest

from shoprec.config import Params
from shoprec.errors import ConfigError
from shoprec.release.propose import cross_validation, registered_folds


def params(folds: list[int]) -> Params:
    return Params.model_validate({"evaluation": {"cv": {"folds": folds}}})


def write_cv(root, folds):
    (root / "metrics").mkdir(exist_ok=True)
    cv = {
        "folds": {
            str(k): {
                "window": {"test_start": f"2026-01-{10 + k:02d}"},
                "metrics": {"two_stage": {"ndcg@10": 0.1 + k}, "ease": {"ndcg@10": 0.05}},
            }
            for k in folds
        }
    }
    (root / "metrics/cv.json").write_text(json.dumps(cv))
    return cv


def test_no_folds_listed_means_no_cross_validation(tmp_path):
    write_cv(tmp_path, [0, 1])
    assert cross_validation(tmp_path, params([])) == {}


def test_a_missing_or_stale_summary_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="missing; run dvc repro"):
        cross_validation(tmp_path, params([0, 1]))
    write_cv(tmp_path, [0, 1])
    with pytest.raises(ConfigError, match=r"holds folds \[0, 1\].*is \[0, 1, 2\]"):
        cross_validation(tmp_path, params([0, 1, 2]))
    assert sorted(cross_validation(tmp_path, params([1, 0]))["folds"]) == ["0", "1"]


def test_the_manifest_keeps_each_window_and_only_this_models_metrics(tmp_path):
    cv = write_cv(tmp_path, [0, 2])
    kept = registered_folds(cv, "two_stage")
    assert kept == {
        "folds": {
            "0": {"window": {"test_start": "2026-01-10"}, "metrics": {"ndcg@10": 0.1}},
            "2": {"window": {"test_start": "2026-01-12"}, "metrics": {"ndcg@10": 2.1}},
        }
    }
    assert registered_folds(cv, "sequential") == {}
    assert registered_folds({}, "two_stage") == {}


def test_the_manifest_keeps_the_baselines_intervals_folds_and_segments_for_review(tmp_path):
    from shoprec.release.propose import registered_evaluation

    cv = write_cv(tmp_path, [0, 1])
    metrics = {"two_stage": {"ndcg@10": 0.2}, "ease": {"ndcg@10": 0.1}, "sequential": {}}
    intervals = {"two_stage": {"ndcg@10": [0.18, 0.22]}}
    segments = {
        "segments": {"history_edges": [3, 10]},
        "models": {"two_stage": {"users": {"history:1-2": {"users": 4}}}, "sequential": {}},
    }
    kept = registered_evaluation(
        "two_stage", ["most_popular", "ease"], metrics, intervals, cv, segments
    )
    assert kept["models"] == ["two_stage", "ease"]  # the candidate and the baselines it ran with
    assert kept["metrics"] == {"two_stage": {"ndcg@10": 0.2}, "ease": {"ndcg@10": 0.1}}
    assert kept["intervals"] == intervals
    assert kept["folds"]["1"] == {"two_stage": {"ndcg@10": 1.1}, "ease": {"ndcg@10": 0.05}}
    assert list(kept["segments"]["models"]) == ["two_stage"]
    assert registered_evaluation("two_tower", ["ease"], metrics, intervals, cv, None) == {}
