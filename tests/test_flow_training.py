"""The Prefect training flow, run for real against a temporary Prefect API."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from shoprec.errors import StageFailed
from tests.prefect_flows import load_flow, read_artifacts
from tests.projects import REPO_ROOT, write_params

pytestmark = pytest.mark.slow


def test_flow_runs_every_stage_through_dvc_and_publishes_the_metrics(prefect_api, tiny_project):
    training = load_flow("training")
    # Change a model param so the flow has real work to do, and DVC skips the rest.
    write_params(tiny_project, {"models": {"itemknn": {"neighbors": 20}}})
    result = training.training_flow(project_dir=str(tiny_project), gate=False)
    assert result["registry"] is None
    metrics = result["metrics"]
    on_disk = json.loads((tiny_project / "metrics/evaluation.json").read_text())
    assert metrics == on_disk
    assert set(metrics) == {"most_popular", "itemknn", "ease", "two_tower", "two_stage"}
    assert (
        json.loads((tiny_project / "models/itemknn/model.json").read_text())["params"]["neighbors"]
        == 20
    )
    # The flow and `dvc repro` agree: nothing is left to reproduce.
    from tests.projects import dvc

    assert dvc(tiny_project, "status").stdout.split() == ["ingest:", "always", "changed"]

    validation = read_artifacts("shoprec-validation")
    assert validation and "accepted" in validation[0].data
    artifacts = read_artifacts("shoprec-evaluation")
    assert artifacts, "the metrics table artifact was not published"
    assert "| itemknn |" in artifacts[0].data
    assert f"{metrics['ease']['ndcg@10']:.4f}" in artifacts[0].data


def test_a_failing_stage_fails_the_flow_with_the_stage_message(prefect_api, tiny_project):
    training = load_flow("training")
    suite_path = tiny_project / "expectations/events.json"
    suite = json.loads(suite_path.read_text())
    for expectation in suite["expectations"]:
        if (
            expectation["kwargs"].get("column") == "event_type"
            and "value_set" in expectation["kwargs"]
        ):
            expectation["kwargs"]["value_set"] = ["purchase"]
    suite_path.write_text(json.dumps(suite))
    before = (tiny_project / "metrics/evaluation.json").read_text()
    with pytest.raises(StageFailed) as failure:
        training.training_flow(project_dir=str(tiny_project), gate=False)
    message = str(failure.value)
    assert message.startswith("stage 'validate' failed: shoprec validate: error:")
    assert "unknown_event_type" in message
    assert "expect_column_values_to_be_in_set on 'event_type'" in message
    assert "Traceback" not in message
    assert (tiny_project / "metrics/evaluation.json").read_text() == before
    # The validation report is published even though the batch was rejected.
    (summary,) = read_artifacts("shoprec-validation")[:1]
    assert "rejected" in summary.data and "unknown_event_type" in summary.data
    (link,) = read_artifacts("shoprec-validation-report")[:1]
    assert "reports/validation/index.html" in link.data


def test_prefect_yaml_declares_a_nightly_deployment_of_the_training_flow():
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((REPO_ROOT / "flows/prefect.yaml").read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "nightly-training"]
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
    finally:
        os.chdir(cwd)
    assert flow.name == "shoprec-training"
    (schedule,) = deployment["schedules"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month, weekday) == ("*", "*", "*") and hour.isdigit() and minute.isdigit()


# -- gate, approval wait and promotion in the flow -------------------------------------------
# the tiny shop is too small for the ranker to beat every baseline; these tests are about the
# approval cycle, so the lift over baselines may be anything (the champion lift keeps its default)
LENIENT_GATE = {"gate": {"min_lift_over_baselines": -1.0}}
REVIEW = ("--by", "ana", "--reason", "checked the gate table")


def commit_project(project) -> str:
    from tests.projects import run

    (project / ".gitignore").write_text("/.dvc-site-cache\n/registry\n/registry-dvc\n")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "reproduced"], project)
    return run(["git", "rev-parse", "HEAD"], project).stdout.strip()


def flow_run_state(flow_run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


def awaiting(registry, version: int) -> list[str]:
    return [
        e["flow_run_id"]
        for e in registry.audit_log("two_stage")
        if e["action"] == "awaiting_approval" and e["version"] == version
    ]


def test_without_required_approval_the_flow_promotes_pushes_the_data_and_dvc_pull_restores_it(
    prefect_api, tiny_project, s3_env, monkeypatch, tmp_path
):
    """Must-show 4: from the production alias, lineage gives the exact dvc.lock hashes, and a
    fresh clone at the recorded commit gets the data back with `dvc pull` from the S3 remote."""
    import subprocess
    import sys

    from shoprec.registry import Registry, S3Store
    from shoprec.release.lineage import dvc_lock_hashes
    from shoprec.release.promotion import pull_data
    from tests.conftest import new_bucket
    from tests.projects import run

    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    training = load_flow("training")
    write_params(tiny_project, {**LENIENT_GATE, "promotion": {"require_approval": False}})
    commit = commit_project(tiny_project)
    bucket = new_bucket(s3_env)
    monkeypatch.setenv("SHOPREC_REGISTRY_URI", f"s3://{bucket}/registry")

    outcome = training.training_flow(project_dir=str(tiny_project))["registry"]
    assert outcome["status"] == "approved" and outcome["version"] == 1, outcome
    assert outcome["alias"] == "production"
    registry = Registry(S3Store(f"s3://{bucket}/registry"))
    production = registry.alias("two_stage")
    assert production["version"] == 1
    assert registry.info("two_stage", 1).decision == "approved"
    gate = read_artifacts("shoprec-gate")
    assert gate and "PASSED" in gate[0].data
    actions = [e["action"] for e in registry.audit_log("two_stage")]
    assert actions == ["register", "check_servability", "approve", "data_pushed", "promote"]

    lineage = json.loads(
        subprocess.run(
            [sys.executable, "-m", "shoprec", "registry", "lineage", "two_stage", "1"],
            cwd=tiny_project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert lineage["git"] == {"commit": commit, "dirty": False}
    assert lineage["data"] == dvc_lock_hashes(tiny_project)
    assert f"git checkout {commit}" in lineage["restore_data"]
    assert f"s3://{bucket}/registry-dvc" in lineage["restore_data"]

    # a new machine: a clone of the repository at that commit, an empty DVC cache, the remote
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_project), str(clone)], tmp_path)
    run(["git", "checkout", "-q", commit], clone)
    assert dvc_lock_hashes(clone) == lineage["data"]
    assert not (clone / "data/features").exists()
    pull_data(clone, f"s3://{bucket}/registry-dvc")
    restored = 0
    for stage_outs in lineage["data"].values():
        for out in stage_outs:
            source = tiny_project / out
            files = [p for p in source.rglob("*") if p.is_file()] if source.is_dir() else [source]
            for path in files:
                copy = clone / path.relative_to(tiny_project)
                assert copy.read_bytes() == path.read_bytes(), copy
                restored += 1
    assert restored > 10


def test_the_flow_waits_for_approval_times_out_pending_and_a_terminal_approval_resumes_it(
    prefect_api, tiny_project, monkeypatch, tmp_path
):
    import subprocess
    import sys
    import threading
    import time

    from prefect.settings import PREFECT_API_URL

    from shoprec.registry import LocalStore, Registry

    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    monkeypatch.delenv("SHOPREC_REGISTRY_URI", raising=False)
    training = load_flow("training")
    wait = {"approval_timeout_s": 3, "poll_interval_s": 1}
    write_params(tiny_project, {**LENIENT_GATE, "promotion": wait})
    registry = Registry(LocalStore(tiny_project / "registry"))  # the embedded default

    first = training.training_flow(project_dir=str(tiny_project))["registry"]
    assert first["status"] == "pending" and first["version"] == 1, first
    assert registry.alias("two_stage") is None
    (first_run,) = awaiting(registry, 1)
    assert flow_run_state(first_run).is_completed()  # the run ends; the version stays pending
    approval = read_artifacts("shoprec-approval")
    assert "shoprec registry approve two_stage 1" in approval[0].data

    # the next run finds the same files pending and waits again; a reviewer approves from a
    # terminal, which resumes the paused run, and the run promotes
    write_params(tiny_project, {"promotion": {"approval_timeout_s": 300, "poll_interval_s": 1}})
    api_url = PREFECT_API_URL.value()
    said = {}

    def reviewer():
        deadline = time.monotonic() + 240
        while len(awaiting(registry, 1)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        said["cli"] = subprocess.run(
            [sys.executable, "-m", "shoprec", "registry", "approve", "two_stage", "1", *REVIEW],
            cwd=tiny_project,
            capture_output=True,
            text=True,
            env={**os.environ, "PREFECT_API_URL": api_url},
            check=False,
        )

    thread = threading.Thread(target=reviewer)
    thread.start()
    started = time.monotonic()
    second = training.training_flow(project_dir=str(tiny_project))["registry"]
    thread.join()
    cli = said["cli"]
    assert cli.returncode == 0, cli.stderr
    assert "resumed the training flow run" in cli.stdout
    assert time.monotonic() - started < 250  # resumed, not timed out
    assert second["status"] == "approved" and second["alias"] == "production", second
    assert registry.alias("two_stage")["version"] == 1
    decision = registry.info("two_stage", 1)
    assert decision.decision == "approved"
    assert any((tiny_project / "registry-dvc").rglob("*")), "the data was not pushed"
    assert flow_run_state(awaiting(registry, 1)[-1]).is_completed()


def test_a_reviewer_rejects_through_the_typed_prefect_input(prefect_api, tiny_project, tmp_path):
    import threading
    import time

    from prefect.flow_runs import resume_flow_run

    from shoprec.registry import LocalStore, Registry

    training = load_flow("training")
    write_params(
        tiny_project,
        {**LENIENT_GATE, "promotion": {"approval_timeout_s": 300, "poll_interval_s": 1}},
    )
    registry = Registry(LocalStore(tiny_project / "registry"))
    errors = []

    def reviewer():
        while not awaiting(registry, 1):
            time.sleep(0.5)
        (run_id,) = awaiting(registry, 1)
        try:  # the form needs a name and a reason
            resume_flow_run(run_id, run_input={"approve": True, "by": "", "reason": "ok"})
        except RuntimeError as exc:
            errors.append(str(exc))
        resume_flow_run(run_id, run_input={"approve": False, "by": "bo", "reason": "too slow"})

    thread = threading.Thread(target=reviewer, daemon=True)
    thread.start()
    outcome = training.training_flow(project_dir=str(tiny_project))["registry"]
    thread.join(timeout=60)
    assert errors and "by" in errors[0]
    assert outcome["status"] == "rejected", outcome
    info = registry.info("two_stage", 1)
    assert info.decision == "rejected" and registry.alias("two_stage") is None
    (reject,) = [e for e in registry.audit_log("two_stage") if e["action"] == "reject"]
    assert (reject["by"], reject["reason"]) == ("bo", "too slow")
