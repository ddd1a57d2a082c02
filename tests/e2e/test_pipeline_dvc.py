"""`dvc repro` for real, in a temporary git repository, on a tiny synthetic shop."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from shoprec.training.model_table import BASELINES, EVENT_MODELS
from tests.projects import REPO_ROOT, dvc, write_params

pytestmark = pytest.mark.slow
REQUIRED_KEYS = ("ndcg@10", "recall@20", "precision@10", "coverage@10")
ALL_MODELS = (*BASELINES, *EVENT_MODELS)


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def test_repro_produces_every_output_and_a_second_run_changes_nothing(tiny_project):
    metrics = json.loads((tiny_project / "metrics/evaluation.json").read_text())
    assert list(metrics) == list(ALL_MODELS)
    for model in ALL_MODELS:
        for key in REQUIRED_KEYS:
            assert 0.0 <= metrics[model][key] <= 1.0, (model, key)
        assert (tiny_project / "models" / model / "model.json").is_file()
        assert (tiny_project / "metrics/curves" / f"{model}.json").is_file()
    intervals = json.loads((tiny_project / "metrics/confidence_intervals.json").read_text())
    low, high = intervals["ease"]["ndcg@10"]
    assert low <= metrics["ease"]["ndcg@10"] <= high

    lock = (tiny_project / "dvc.lock").read_text()
    again = dvc(tiny_project, "repro")
    # ingest always re-reads its source (DVC cannot see a file named in params change);
    # its outputs are identical, so nothing after it runs and nothing changes.
    assert ran_stages(again.stdout) == {"ingest"}, again.stdout
    assert (tiny_project / "dvc.lock").read_text() == lock
    for stage in ("validate", "split", "features", "evaluate"):
        assert f"Stage '{stage}' didn't change, skipping" in again.stdout

    plots = dvc(tiny_project, "plots", "show", "--json")
    shown = json.loads(plots.stdout)["data"]
    assert {f"metrics/curves/{m}.json" for m in ALL_MODELS} <= set(shown)


def test_a_model_param_change_reruns_exactly_its_stages_and_never_restores_stale_outputs(
    tiny_project,
):
    project = tiny_project
    params = yaml.safe_load((project / "params.yaml").read_text())
    first = {m: tree_digest(project / "models" / m) for m in BASELINES}
    first_metrics = json.loads((project / "metrics/evaluation.json").read_text())
    l2 = params["models"]["ease"]["l2"]

    write_params(project, {"models": {"ease": {"l2": l2 * 20}}})
    out = dvc(project, "repro").stdout
    # the two-stage model fits EASE as one of its candidate sources
    assert ran_stages(out) - {"ingest"} == {"train@ease", "train_ranker", "evaluate"}, out
    second = {m: tree_digest(project / "models" / m) for m in BASELINES}
    second_metrics = json.loads((project / "metrics/evaluation.json").read_text())
    assert second["ease"] != first["ease"]
    assert second["itemknn"] == first["itemknn"]
    assert second["most_popular"] == first["most_popular"]
    assert second_metrics["ease"] != first_metrics["ease"]
    assert second_metrics["itemknn"] == first_metrics["itemknn"]

    # Back to the first value: DVC may restore from its run cache, but it must restore the
    # outputs that belong to *these* params, never the last ones on disk.
    write_params(project, {"models": {"ease": {"l2": l2}}})
    dvc(project, "repro")
    assert tree_digest(project / "models/ease") == first["ease"]
    assert json.loads((project / "metrics/evaluation.json").read_text()) == first_metrics

    write_params(project, {"models": {"ease": {"l2": l2 * 20}}})
    dvc(project, "repro")
    assert tree_digest(project / "models/ease") == second["ease"]
    assert json.loads((project / "metrics/evaluation.json").read_text()) == second_metrics


def test_a_failing_stage_stops_the_pipeline_with_one_readable_line(tiny_project):
    write_params(tiny_project, {"split": {"test_days": 20, "validation_days": 20}})
    before = (tiny_project / "metrics/evaluation.json").read_text()
    proc = dvc(tiny_project, "repro", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "shoprec split: error: split: the data spans 28 day(s)" in output
    assert "Traceback" not in output
    assert ran_stages(proc.stdout) - {"ingest"} == {"split"}
    assert (tiny_project / "metrics/evaluation.json").read_text() == before


def test_no_test_period_interaction_reaches_the_features_or_the_models(tiny_project_template):
    import numpy as np
    import pandas as pd

    from shoprec.features.interactions import Interactions
    from shoprec.training.model_table import load_model

    project = tiny_project_template
    split = json.loads((project / "reports/split.json").read_text())
    test_start = pd.Timestamp(split["test_start"])
    validation_start = pd.Timestamp(split["validation_start"])
    parts = {
        p: pd.read_parquet(project / f"data/split/{p}.parquet")
        for p in ("train", "validation", "test")
    }
    assert parts["train"]["timestamp"].max() < validation_start
    assert parts["validation"]["timestamp"].max() < test_start <= parts["test"]["timestamp"].min()

    events = pd.read_parquet(project / "data/validated/events.parquet")
    before = events[events["timestamp"] < test_start]
    features = Interactions.load(project / "data/features/before_test")
    rows = features.user_positions(before["user_id"])
    cols = features.item_positions(before["item_id"])
    expected = np.zeros(features.shape, dtype=bool)
    expected[rows, cols] = True
    assert np.array_equal(features.matrix.toarray() > 0, expected)
    # A (user, item) pair that occurs only in the test period is never in the features.
    test_only = parts["test"].merge(before[["user_id", "item_id"]], how="left", indicator=True)
    test_only = test_only[test_only["_merge"] == "left_only"]
    assert len(test_only) > 0
    r = features.user_positions(test_only["user_id"])
    c = features.item_positions(test_only["item_id"])
    known = r >= 0
    assert not features.matrix[r[known], c[known]].any()
    for model in ALL_MODELS:
        history = load_model(project / "models" / model).history
        assert (history.matrix != features.matrix).nnz == 0


def test_changing_only_the_data_section_runs_the_pipeline_on_online_retail(tmp_path):
    from tests.projects import make_project

    sliced = REPO_ROOT / "tests/data/online_retail_slice.csv.gz"
    project = make_project(
        tmp_path / "retail",
        {
            "data": {"source": "online_retail", "path": str(sliced)},
            "split": {"test_days": 60, "validation_days": 30},
        },
    )
    dvc(project, "repro")
    ingest = json.loads((project / "reports/ingest.json").read_text())
    counts = ingest["counts"]["events"]
    assert counts["read"] == counts["used"] + counts["quarantined"] == 3507
    assert {"cancellation_invoice", "missing_customer_id"} <= set(ingest["quarantine_reasons"])
    metrics = json.loads((project / "metrics/evaluation.json").read_text())
    assert list(metrics) == list(ALL_MODELS)
    for model in ALL_MODELS:
        assert set(REQUIRED_KEYS) <= set(metrics[model])
    assert json.loads((project / "reports/evaluation.json").read_text())["evaluated_users"] > 0


def test_a_rejected_batch_leaves_the_last_good_outputs_and_metrics_untouched(
    tiny_project, tmp_path
):
    import pandas as pd

    from shoprec.data.schema import (
        EVENT_COLUMNS,
        EVENT_OPTIONAL_COLUMNS,
        ITEM_COLUMNS,
        ITEM_OPTIONAL_COLUMNS,
    )

    project = tiny_project
    # The shop now exports its tables every night; the first export holds exactly the events
    # the project was reproduced from, so this good batch changes nothing after validation.
    exports = tmp_path / "exports"
    exports.mkdir()
    events = pd.read_parquet(project / "data/raw/events.parquet")
    items = pd.read_parquet(project / "data/raw/items.parquet")
    events = events[[c for c in (*EVENT_COLUMNS, *EVENT_OPTIONAL_COLUMNS) if c in events]]
    items = items[[c for c in (*ITEM_COLUMNS, *ITEM_OPTIONAL_COLUMNS) if c in items]]
    events.to_csv(exports / "events.csv", index=False)
    items.to_csv(exports / "items.csv", index=False)
    source = {"source": "files", "events": str(exports / "events.csv")}
    write_params(project, {"data": {**source, "items": str(exports / "items.csv")}})
    first = dvc(project, "repro")
    assert ran_stages(first.stdout) <= {"ingest", "validate"}, first.stdout
    kept = ["data/raw", "data/validated", "data/features", "models"]
    files = ["metrics/evaluation.json", "metrics/confidence_intervals.json"]

    def snapshot() -> dict[str, str]:
        state = {p: tree_digest(project / p) for p in kept}
        state.update({p: (project / p).read_text() for p in files})
        return state

    good = snapshot()
    summary = json.loads((project / "reports/validation/summary.json").read_text())
    assert summary["accepted"] is True

    # The next export is ten times the volume (new users): a batch-level rejection.
    spike = pd.concat([events.assign(user_id=events["user_id"] + f"-{copy}") for copy in range(10)])
    spike.to_csv(exports / "events.csv", index=False)
    proc = dvc(project, "repro", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "shoprec validate: error: batch rejected:" in output
    assert "expect_table_row_count_to_be_between" in output
    assert "Traceback" not in output
    assert ran_stages(proc.stdout) == {"ingest", "validate"}
    after = snapshot()
    assert {k: v for k, v in after.items() if k != "data/raw"} == {
        k: v for k, v in good.items() if k != "data/raw"
    }
    summary = json.loads((project / "reports/validation/summary.json").read_text())
    assert summary["accepted"] is False and "row_count" in summary["message"]
    assert "rejected" in (project / "reports/validation/index.html").read_text()

    # An export that cannot be read at all stops at ingest and replaces nothing, raw data included.
    (exports / "events.csv").write_text("user_id;item_id;event_type;timestamp\nu1;i1;view;2026\n")
    proc = dvc(project, "repro", check=False)
    assert proc.returncode != 0
    assert "is the file comma-separated?" in proc.stdout + proc.stderr
    assert snapshot()["data/raw"] == after["data/raw"]
    assert {k: v for k, v in snapshot().items() if k != "data/raw"} == {
        k: v for k, v in good.items() if k != "data/raw"
    }


def switched_on(project: Path) -> list[str]:
    """The models the project's params.yaml trains: the baselines, then each event model whose
    ``train.<model>`` switch is on."""
    from shoprec.config import load_params

    train = load_params(project / "params.yaml").train
    return [*train.models, *(m for m in EVENT_MODELS if getattr(train, m, False) is True)]


def test_leave_last_out_runs_every_model_to_the_end(tiny_project):
    """Per-user cut times: every model trains and is evaluated (repeats count: in the synthetic
    shop a held-out target's item is always viewed just before it)."""
    import pandas as pd

    project = tiny_project
    write_params(
        project, {"split": {"strategy": "leave_last_out"}, "targets": {"repeat_purchases": True}}
    )
    out = dvc(project, "repro").stdout
    assert {"split", "train_two_tower", "train_ranker", "evaluate"} <= ran_stages(out)
    metrics = json.loads((project / "metrics/evaluation.json").read_text())
    assert {"two_tower", "two_stage"} <= set(switched_on(project))
    assert sorted(metrics) == sorted(switched_on(project))
    for model in metrics:
        for key in REQUIRED_KEYS:
            assert 0.0 <= metrics[model][key] <= 1.0, (model, key)
    split = json.loads((project / "reports/split.json").read_text())
    assert split["strategy"] == "leave_last_out" and split["held_out_users"] > 0
    cuts = pd.read_parquet(project / "data/split/cuts.parquet")
    assert cuts["validation_at"].nunique() > 2  # a cut per held-out user
    ranker = json.loads((project / "reports/ranker.json").read_text())
    assert ranker["ranker_window"]["features_before"].startswith("each user's own")
    assert "two_tower" in ranker["active_sources"]
    assert json.loads((project / "reports/two_tower.json").read_text())["epochs_used"] >= 1


def test_two_tower_off_trains_nothing_and_the_ranker_runs_without_that_source(tiny_project):
    project = tiny_project
    write_params(project, {"train": {"two_tower": False}})
    out = dvc(project, "repro").stdout
    assert ran_stages(out) - {"ingest"} == {"train_two_tower", "train_ranker", "evaluate"}, out
    folder = project / "models/two_tower"
    assert [p.name for p in folder.iterdir()] == ["disabled.json"]
    marker = json.loads((folder / "disabled.json").read_text())
    assert marker["disabled_by"] == "train.two_tower: false"
    ranker = json.loads((project / "reports/ranker.json").read_text())
    assert "two_tower" not in ranker["active_sources"]
    assert ranker["sources_off"]["two_tower"].startswith("train.two_tower: false")
    metrics = json.loads((project / "metrics/evaluation.json").read_text())
    assert "two_tower" not in metrics and "two_stage" in metrics
    assert sorted(metrics) == sorted(switched_on(project))
    candidates = json.loads((project / "metrics/candidates.json").read_text())
    assert "two_tower" not in candidates["n_per_source"]

    # and back on: the switch is a param of both stages, so they run (or are restored) again
    write_params(project, {"train": {"two_tower": True}})
    dvc(project, "repro")
    assert (folder / "model.json").is_file() and not (folder / "disabled.json").exists()
    metrics = json.loads((project / "metrics/evaluation.json").read_text())
    assert "two_tower" in metrics and sorted(metrics) == sorted(switched_on(project))
    assert "sources_off" not in json.loads((project / "reports/ranker.json").read_text())
