"""Cross-validation folds under a real `dvc repro`: one cached stage per fold, so adding a fold
runs only that fold (and the summary), and the summary, plots and gate inputs are written."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_pipeline_dvc import ran_stages
from tests.projects import dvc, make_project, write_params

pytestmark = pytest.mark.slow

# the neural models off: this is about DVC's caching per fold, and each fold fits every model
CHEAP = {
    "train": {"two_tower": False, "sequential": False, "two_stage": True},
    "evaluation": {"cv": {"folds": [0, 1, 2], "step_days": 3}},
}


def test_folds_3_to_4_runs_only_the_new_fold_and_the_summary(tmp_path):
    project = make_project(tmp_path / "shop", CHEAP)
    first = dvc(project, "repro").stdout
    assert {"cv_fold@0", "cv_fold@1", "cv_fold@2", "cv"} <= ran_stages(first), first
    folds = {k: (project / f"metrics/cv/fold_{k}.json").read_text() for k in range(3)}
    cv = json.loads((project / "metrics/cv.json").read_text())
    assert sorted(cv["folds"]) == ["0", "1", "2"]
    starts = [cv["folds"][str(k)]["window"]["test_start"][:10] for k in range(3)]
    assert starts == sorted(starts, reverse=True) and len(set(starts)) == 3
    assert cv["summary"]["two_stage"]["ndcg@10"]["folds"] == 3
    # fold 0 is today's split: the baselines fit in the fold score as the pipeline's own
    evaluation = json.loads((project / "metrics/evaluation.json").read_text())
    for model in ("most_popular", "itemknn", "ease"):
        assert cv["folds"]["0"]["metrics"][model] == evaluation[model], model
    rows = json.loads((project / "metrics/cv_plots/two_stage.json").read_text())
    assert [r["fold"] for r in rows] == [0, 1, 2]
    segments = json.loads((project / "metrics/segments.json").read_text())
    assert (
        sum(
            segments["models"]["ease"]["users"][f"history:{b}"]["users"]
            for b in ("1-2", "3-9", "10+")
        )
        == segments["models"]["ease"]["users"]["arrival:new"]["users"]
        + (segments["models"]["ease"]["users"]["arrival:returning"]["users"])
    )

    write_params(project, {"evaluation": {"cv": {"folds": [0, 1, 2, 3]}}})
    second = dvc(project, "repro").stdout
    assert ran_stages(second) - {"ingest"} == {"cv_fold@3", "cv"}, second
    for k in range(3):
        assert (project / f"metrics/cv/fold_{k}.json").read_text() == folds[k]
    cv = json.loads((project / "metrics/cv.json").read_text())
    assert sorted(cv["folds"]) == ["0", "1", "2", "3"]
    shown = json.loads(dvc(project, "plots", "show", "--json").stdout)["data"]
    assert "metrics/cv_plots/two_stage.json" in shown
