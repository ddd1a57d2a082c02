"""Stage ``cv``: the folds side by side with mean, standard deviation (ddof 1) and minimum, the
plots, and clear errors; stage ``cv_fold`` refuses a fold that is not a number."""

from __future__ import annotations

import json

import pytest

from shoprec.config import Params
from shoprec.errors import ConfigError, DataError
from shoprec.stages.cv import run, summarise
from shoprec.stages.cv_fold import fold_number


def fold(k: int, ndcg: float) -> dict:
    return {
        "fold": k,
        "window": {"test_start": f"2026-01-{20 - k:02d}"},
        "targets": {"evaluated_users": 10 + k},
        "models": {"ease": {"metrics": {"ndcg@10": ndcg, "recall@20": 2 * ndcg}}},
    }


def test_summarise_gives_mean_sample_std_and_min():
    out = summarise({0: fold(0, 0.1), 1: fold(1, 0.2), 2: fold(2, 0.3)})["ease"]["ndcg@10"]
    assert out == {"mean": 0.2, "std": 0.1, "min": 0.1, "folds": 3}
    assert summarise({0: fold(0, 0.1)})["ease"]["ndcg@10"]["std"] == 0.0


def write_folds(root, folds: dict[int, float]) -> None:
    (root / "metrics/cv").mkdir(parents=True)
    for k, ndcg in folds.items():
        (root / f"metrics/cv/fold_{k}.json").write_text(json.dumps(fold(k, ndcg)))


def params(folds: list[int]) -> Params:
    return Params.model_validate({"evaluation": {"cv": {"folds": folds}}})


def test_run_writes_the_summary_and_one_plot_per_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_folds(tmp_path, {0: 0.1, 1: 0.3, 5: 0.9})  # fold 5 is a leftover, not listed
    run(params([0, 1]))
    cv = json.loads((tmp_path / "metrics/cv.json").read_text())
    assert sorted(cv["folds"]) == ["0", "1"] and cv["folds"]["1"]["test_users"] == 11
    assert cv["summary"]["ease"]["ndcg@10"]["mean"] == 0.2
    rows = json.loads((tmp_path / "metrics/cv_plots/ease.json").read_text())
    assert rows == [
        {"fold": 0, "ndcg@10": 0.1, "recall@20": 0.2},
        {"fold": 1, "ndcg@10": 0.3, "recall@20": 0.6},
    ]


def test_a_missing_fold_names_the_stage_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_folds(tmp_path, {0: 0.1})
    with pytest.raises(DataError, match=r"dvc repro cv_fold@2"):
        run(params([0, 2]))


def test_no_folds_writes_an_empty_summary_that_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics/cv").mkdir(parents=True)
    out = run(params([]))
    assert out["folds"] == {} and "empty" in out["note"]


@pytest.mark.parametrize("text", ["", "x", "-1", "1.5"])
def test_cv_fold_needs_a_fold_number(text):
    with pytest.raises(ConfigError, match="name the fold"):
        fold_number(text)


def test_folds_are_distinct_and_sorted():
    assert params([2, 0, 1]).evaluation.cv.folds == [0, 1, 2]
    with pytest.raises(ValueError, match="twice"):
        params([0, 0])
