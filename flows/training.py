"""Prefect training flow: every ``dvc.yaml`` stage as a Prefect task, then the metrics table.

Stages run through ``dvc repro --single-item`` (see ``shoprec.stages.dvc_runner``), so this flow
and ``dvc repro`` produce the same versioned outputs and share DVC's cache: an unchanged
stage is skipped here too. A failed stage fails the flow with the stage's readable error.
The data validation report is published as artifacts whether the batch was accepted or not.

Then what DVC should not do: the evaluation gate (``shoprec-gate`` artifact); a candidate that
passes is registered and the flow pauses for a human decision, given in the Prefect UI (a typed
form) or with ``shoprec registry approve|reject`` from a terminal (which resumes this run). The
pause lives in the flow, not in a task. After ``promotion.approval_timeout_s`` the version stays
pending and the run completes. On approval the data is pushed to the DVC remote and the
``production`` alias moves. ``promotion.require_approval: false`` approves automatically.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field

from shoprec.compute import dask_task_runner
from shoprec.config import Params, load_params
from shoprec.release.project import (
    Registry,
    cv_markdown,
    metrics_markdown,
    open_project_registry,
    project_metrics,
    segments_markdown,
    validation_markdown,
    validation_report_uri,
    validation_summary,
)
from shoprec.release.promotion import dvc_remote_url, promote_with_data
from shoprec.release.propose import propose
from shoprec.stages.dvc_runner import (
    commit_stages,
    list_stages,
    repro_stage,
    run_stage_command,
    stage_changed,
    stage_waves,
)


class ApprovalDecision(RunInput):
    """A reviewer's decision on a registered model version (the form the Prefect UI shows)."""

    approve: bool
    by: str = Field(min_length=1, description="who decides")
    reason: str = Field(min_length=1, description="why")


@task(task_run_name="{stage}", retries=0)
def run_stage(stage: str, project_dir: str, force: bool = False) -> bool:
    """Reproduce one DVC stage; returns True when DVC skipped it as unchanged."""
    logger = get_run_logger()
    outcome = repro_stage(stage, project_dir, force=force)
    logger.info("%s: %s", stage, "unchanged, skipped" if outcome.skipped else "ran")
    for line in outcome.output.splitlines()[-15:]:
        logger.debug(line)
    return outcome.skipped


@task(task_run_name="{stage}", retries=0, persist_result=False)
def run_stage_at_once(stage: str, project_dir: str) -> str:
    """Run one stage's command beside others of its group (``commit_stages`` records it)."""
    outcome = run_stage_command(stage, project_dir)
    get_run_logger().info("%s: ran beside the other stages of its group", stage)
    return outcome.stage


@flow(name="shoprec-stages-at-once", persist_result=False)
def stages_at_once(stages: list[str], project_dir: str, force: bool = False) -> list[str]:
    """The changed stages of one group (no stage reads another's outputs) at the same time on
    the flow's task runner (Dask), then one ``dvc commit`` for those that finished. A stage
    that fails fails the run, after the others are committed, so their work is kept."""
    logger = get_run_logger()
    todo = [s for s in stages if force or stage_changed(s, project_dir)]
    for stage in sorted(set(stages) - set(todo), key=stages.index):
        logger.info("%s: unchanged, skipped", stage)
    futures = [run_stage_at_once.submit(stage, project_dir) for stage in todo]
    finished, failures = [], []
    for future in futures:
        try:
            finished.append(future.result())
        except Exception as exc:  # every stage finishes or fails before one is reported
            failures.append(exc)
    commit_stages(finished, project_dir)
    if failures:
        raise failures[0]
    return finished


def run_stages(root: Path, force: bool) -> None:
    """Every stage of ``dvc.yaml``: one by one through ``dvc repro`` (``compute.engine:
    local``), or group by group with the stages of a group at once on Dask (``dask``)."""
    logger = get_run_logger()
    runner = dask_task_runner(load_params(root / "params.yaml").compute)
    waves = stage_waves(root) if runner is not None else [[s] for s in list_stages(root)]
    logger.info("stages: %s", " → ".join(", ".join(w) for w in waves))
    for wave in waves:
        if len(wave) > 1:
            stages_at_once.with_options(task_runner=runner)(wave, str(root), force)
            continue
        try:
            run_stage(wave[0], str(root), force=force)
        finally:
            if wave[0] == "validate":
                publish_validation_report(root)


def publish_validation_report(root: Path) -> None:
    """Link the validation report (HTML) and show its counts, accepted or rejected."""
    summary = validation_summary(root)
    if summary is None:
        return
    create_markdown_artifact(
        key="shoprec-validation",
        markdown=validation_markdown(summary),
        description="Data validation summary",
    )
    create_link_artifact(
        key="shoprec-validation-report",
        link=validation_report_uri(root),
        link_text="validation report (HTML)",
    )


@task(retries=0)
def propose_candidate(project_dir: str, by: str) -> dict:
    """Gate → register if it passes → servability check (``shoprec registry propose``)."""
    root = Path(project_dir)
    params = load_params(root / "params.yaml")
    registry = open_project_registry(root, params)
    proposal = propose(root, params, registry, by)
    gate = proposal.gate
    return {
        "model": params.gate.model,
        "version": proposal.version,
        "gate_markdown": gate.markdown() if gate else None,
        "reasons": gate.reasons if gate else [],
    }


@task(retries=0)
def promote_candidate(project_dir: str, name: str, version: int, by: str) -> str:
    """Push the version's data to the DVC remote, then move the alias; returns the data line."""
    root = Path(project_dir)
    params = load_params(root / "params.yaml")
    registry = open_project_registry(root, params)
    remote = dvc_remote_url(params.promotion.dvc_remote, registry.store.location, root)
    promotion = promote_with_data(
        registry,
        name,
        version,
        by,
        "approved in the training flow",
        params.promotion.alias,
        root,
        remote,
    )
    return promotion.data


def wait_for_decision(registry: Registry, name: str, version: int, params: Params) -> None:
    """Pause this flow run until a reviewer decides (UI form or terminal), or the timeout."""
    logger = get_run_logger()
    p = params.promotion
    run_id = str(flow_run.id)
    registry.audit(
        name,
        "awaiting_approval",
        "prefect",
        f"flow run waits up to {p.approval_timeout_s} s",
        version=version,
        flow_run_id=run_id,
    )
    commands = (
        f"shoprec registry approve {name} {version} --by NAME --reason TEXT\n"
        f"shoprec registry reject {name} {version} --by NAME --reason TEXT"
    )
    create_markdown_artifact(
        key="shoprec-approval",
        markdown=(
            f"# {name} v{version} waits for approval\n\nResume this flow run with a decision "
            f"in the UI, or from a terminal:\n\n```\n{commands}\n```\n"
        ),
        description="What this flow run is waiting for",
    )
    logger.info(
        "%s v%d waits for approval (up to %d s):\n%s", name, version, p.approval_timeout_s, commands
    )
    try:
        decision = pause_flow_run(
            wait_for_input=ApprovalDecision.with_initial_data(
                description=f"Approve {name} v{version} for {p.alias}?", approve=True
            ),
            timeout=p.approval_timeout_s,
            poll_interval=p.poll_interval_s,
        )
    except FlowPauseTimeout:
        # the run goes on (and completes); the version stays pending for a later decision
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(
                flow_run.id, Running(message="approval wait timed out"), force=True
            )
        logger.warning(
            "no decision on %s v%d within %d s: it stays pending",
            name,
            version,
            p.approval_timeout_s,
        )
        return
    if registry.info(name, version).decision is None:  # not already given from a terminal
        verdict = "approved" if decision.approve else "rejected"
        registry.decide(name, version, verdict, decision.by, decision.reason)


def propose_and_promote(root: Path, by: str) -> dict:
    """The gate, registration, approval wait and promotion for the pipeline's candidate."""
    logger = get_run_logger()
    outcome = propose_candidate(str(root), by)
    name, version = outcome["model"], outcome["version"]
    if outcome["gate_markdown"]:
        create_markdown_artifact(
            key="shoprec-gate", markdown=outcome["gate_markdown"], description="Evaluation gate"
        )
    if version is None:
        logger.warning("the gate stopped %s: %s", name, "; ".join(outcome["reasons"]))
        return {
            "model": name,
            "version": None,
            "status": "stopped by the gate",
            "reasons": outcome["reasons"],
        }
    params = load_params(root / "params.yaml")
    registry = open_project_registry(root, params)
    result = {"model": name, "version": version}
    before = registry.info(name, version).status
    if before != "pending":
        # registered and decided before (same files): aliases are a human's business now
        logger.info("%s v%d was already %s", name, version, before)
        return {**result, "status": before}
    if params.promotion.require_approval:
        wait_for_decision(registry, name, version, params)
    else:
        registry.decide(
            name, version, "approved", by, "automatic: promotion.require_approval is false"
        )
    status = registry.info(name, version).status
    if status == "approved":
        result["data"] = promote_candidate(str(root), name, version, by)
        result["alias"] = params.promotion.alias
        logger.info("%s v%d is now %s (%s)", name, version, params.promotion.alias, result["data"])
    return {**result, "status": status}


@flow(name="shoprec-training", log_prints=True)
def training_flow(
    project_dir: str = ".", force: bool = False, gate: bool = True, by: str = "prefect"
) -> dict:
    """Run the whole pipeline of ``project_dir``, publish the test metrics, then (``gate``)
    gate, register, wait for approval and promote the candidate model.

    Returns ``{"metrics": {...}, "registry": {...} | None}``."""
    root = Path(project_dir).resolve()
    run_stages(root, force)
    metrics, intervals = project_metrics(root)
    create_markdown_artifact(
        key="shoprec-evaluation",
        markdown=metrics_markdown(metrics, intervals),
        description="Full-ranking test metrics with 95% bootstrap intervals",
    )
    segments = segments_markdown(root)
    if segments is not None:
        create_markdown_artifact(
            key="shoprec-segments",
            markdown=segments,
            description="Test metrics per user and item segment",
        )
    folds = cv_markdown(root)
    if folds is not None:
        create_markdown_artifact(
            key="shoprec-cross-validation",
            markdown=folds,
            description="Cross-validation folds: every model per fold, and the spread",
        )
    return {"metrics": metrics, "registry": propose_and_promote(root, by) if gate else None}


if __name__ == "__main__":
    training_flow()
