"""The Prefect training flow, run for real against the session's temporary Prefect API. Every
wait is bounded by a deadline that fails with a message saying what did not happen."""

from __future__ import annotations

import json
import os
import time

import pytest
import yaml

from shoprec.errors import StageFailed
from tests.prefect_flows import load_flow, read_artifacts
from tests.projects import REPO_ROOT, write_params

TIMED_OUT = "approval wait timed out"  # the state message of a run whose wait timed out


def wait_until(predicate, timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds; after ``timeout_s`` fail, naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.25)


def task_runs(flow_run_id) -> list:
    """The task runs of a flow run, in the order they started."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )


def state_messages(flow_run_id) -> list[str]:
    """Every state the flow run went through, as ``TYPE: message``."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [
            f"{s.type.value}: {s.message or ''}" for s in client.read_flow_run_states(flow_run_id)
        ]


@pytest.mark.slow
def test_flow_runs_every_stage_through_dvc_and_publishes_the_metrics(prefect_api, tiny_project):
    from shoprec.stages.dvc_runner import list_stages

    training = load_flow("training")
    # Change a model param so the flow has real work to do, and DVC skips the rest.
    write_params(tiny_project, {"models": {"itemknn": {"neighbors": 20}}})
    lock_before = yaml.safe_load((tiny_project / "dvc.lock").read_text())["stages"]
    state = training.training_flow(project_dir=str(tiny_project), gate=False, return_state=True)
    assert state.is_completed(), state
    result = state.result()
    # one Prefect task per dvc.yaml stage, in pipeline order, each completed
    runs = task_runs(state.state_details.flow_run_id)
    stages = list_stages(tiny_project)
    assert [r.name for r in runs if r.task_key.startswith("run_stage")] == stages
    assert all(r.state.is_completed() for r in runs)
    # ... and through DVC: what the param change touches was re-run and locked again, the rest
    # was left as it was (the stage table of dvc.lock)
    lock_after = yaml.safe_load((tiny_project / "dvc.lock").read_text())["stages"]
    changed = {s for s in lock_after if lock_after[s] != lock_before.get(s)}
    assert (
        {"train@itemknn", "train_ranker"}
        <= changed
        <= {
            "ingest",
            "train@itemknn",
            "train_ranker",
            "evaluate",
        }
    ), changed
    # gate=False: nothing is proposed, so nothing is registered
    assert result["registry"] is None
    assert not (tiny_project / "registry").exists()
    metrics = result["metrics"]
    on_disk = json.loads((tiny_project / "metrics/evaluation.json").read_text())
    assert metrics == on_disk
    assert set(metrics) == {
        "most_popular",
        "itemknn",
        "ease",
        "two_tower",
        "sequential",
        "two_stage",
    }
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


@pytest.mark.slow
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


def approval_flow(training):
    """A flow that runs only the training flow's own last step (``propose_and_promote``: gate,
    register, pause for a decision, promote) on a project whose stages are reproduced.

    The approval tests use it instead of ``training_flow``: the stages (eleven DVC runs, each
    skipped here) are the business of the tests above, and the whole flow with the gate of the
    test before; the pause, the timeout and the resume are the same code either way."""
    from pathlib import Path

    from prefect import flow

    @flow(name="shoprec-training-approval")
    def approve_or_wait(project_dir: str) -> dict:
        return {"registry": training.propose_and_promote(Path(project_dir).resolve(), "prefect")}

    return approve_or_wait


def paused(registry, runs: int) -> bool:
    """Whether the ``runs``-th flow run waiting on v1 is paused (its audit entry is written
    just before it pauses: a reviewer who resumes in between gets NotPausedError)."""
    waiting = awaiting(registry, 1)
    return len(waiting) >= runs and flow_run_state(waiting[runs - 1]).is_paused()


def awaiting(registry, version: int) -> list[str]:
    return [
        e["flow_run_id"]
        for e in registry.audit_log("two_stage")
        if e["action"] == "awaiting_approval" and e["version"] == version
    ]


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_flow_waits_for_approval_times_out_pending_and_a_terminal_approval_resumes_it(
    prefect_api, tiny_project, monkeypatch, tmp_path
):
    import subprocess
    import sys
    import threading

    from prefect.settings import PREFECT_API_URL

    from shoprec.registry import LocalStore, Registry

    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    monkeypatch.delenv("SHOPREC_REGISTRY_URI", raising=False)
    training = approval_flow(load_flow("training"))
    wait = {"approval_timeout_s": 3, "poll_interval_s": 1}
    write_params(tiny_project, {**LENIENT_GATE, "promotion": wait})
    registry = Registry(LocalStore(tiny_project / "registry"))  # the embedded default

    first = training(project_dir=str(tiny_project))["registry"]
    assert first["status"] == "pending" and first["version"] == 1, first
    assert registry.alias("two_stage") is None
    (first_run,) = awaiting(registry, 1)
    assert flow_run_state(first_run).is_completed()  # the run ends; the version stays pending
    assert any(TIMED_OUT in m for m in state_messages(first_run))  # it timed out, as set
    approval = read_artifacts("shoprec-approval")
    assert "shoprec registry approve two_stage 1" in approval[0].data

    # the next run finds the same files pending and waits again; a reviewer approves from a
    # terminal, which resumes the paused run, and the run promotes. The flow gives up after
    # 180 s, the reviewer after 120 s: a reviewer who never gets to approve fails the test.
    write_params(tiny_project, {"promotion": {"approval_timeout_s": 180, "poll_interval_s": 1}})
    api_url = PREFECT_API_URL.value()
    said: dict = {}

    def reviewer():
        try:
            wait_until(lambda: paused(registry, 2), 120, "the second run to pause")
            said["cli"] = subprocess.run(
                [sys.executable, "-m", "shoprec", "registry", "approve", "two_stage", "1", *REVIEW],
                cwd=tiny_project,
                capture_output=True,
                text=True,
                env={**os.environ, "PREFECT_API_URL": api_url},
                check=False,
                timeout=120,
            )
        except BaseException as exc:  # handed to the test thread below
            said["error"] = exc

    thread = threading.Thread(target=reviewer, daemon=True)
    thread.start()
    second = training(project_dir=str(tiny_project))["registry"]
    thread.join(timeout=150)
    assert not thread.is_alive(), "the reviewer never finished"
    assert "error" not in said, f"the reviewer failed: {said.get('error')}"
    cli = said["cli"]
    assert cli.returncode == 0, cli.stderr
    assert "resumed the training flow run" in cli.stdout
    second_run = awaiting(registry, 1)[-1]
    messages = state_messages(second_run)
    assert any(m.startswith("PAUSED") for m in messages), messages
    assert not any(TIMED_OUT in m for m in messages), messages  # resumed, not timed out
    assert second["status"] == "approved" and second["alias"] == "production", second
    assert registry.alias("two_stage")["version"] == 1
    decision = registry.info("two_stage", 1)
    assert decision.decision == "approved"
    (approve,) = [e for e in registry.audit_log("two_stage") if e["action"] == "approve"]
    assert (approve["by"], approve["reason"]) == ("ana", "checked the gate table")
    assert any((tiny_project / "registry-dvc").rglob("*")), "the data was not pushed"
    assert flow_run_state(second_run).is_completed()


@pytest.mark.slow
def test_a_reviewer_rejects_through_the_typed_prefect_input(prefect_api, tiny_project, tmp_path):
    import threading

    from prefect.flow_runs import resume_flow_run

    from shoprec.registry import LocalStore, Registry

    training = approval_flow(load_flow("training"))
    write_params(
        tiny_project,
        {**LENIENT_GATE, "promotion": {"approval_timeout_s": 180, "poll_interval_s": 1}},
    )
    registry = Registry(LocalStore(tiny_project / "registry"))
    errors: list[str] = []
    failed: list[BaseException] = []

    def reviewer():
        try:
            wait_until(lambda: paused(registry, 1), 120, "the flow run to pause for approval")
            (run_id,) = awaiting(registry, 1)
            try:  # the form needs a name and a reason
                resume_flow_run(run_id, run_input={"approve": True, "by": "", "reason": "ok"})
            except RuntimeError as exc:
                errors.append(str(exc))
            resume_flow_run(run_id, run_input={"approve": False, "by": "bo", "reason": "too slow"})
        except BaseException as exc:  # handed to the test thread below
            failed.append(exc)

    thread = threading.Thread(target=reviewer, daemon=True)
    thread.start()
    outcome = training(project_dir=str(tiny_project))["registry"]
    thread.join(timeout=60)
    assert not thread.is_alive(), "the reviewer never finished"
    assert not failed, f"the reviewer failed: {failed[0]}"
    assert errors and "by" in errors[0]
    assert outcome["status"] == "rejected", outcome
    info = registry.info("two_stage", 1)
    assert info.decision == "rejected" and registry.alias("two_stage") is None
    (reject,) = [e for e in registry.audit_log("two_stage") if e["action"] == "reject"]
    assert (reject["by"], reject["reason"]) == ("bo", "too slow")
