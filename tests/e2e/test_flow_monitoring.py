"""The monitoring flow on a real Prefect API: a clean week passes and starts nothing; a week
with the event mix flipped is Breached, starts the training deployment and records why."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from shoprec.registry import LocalStore, Registry
from tests.monitoring.shop import (
    FLIPPED_MIX,
    NOW,
    latest_events,
    register_production,
    served_impressions,
    write_impressions,
    write_project,
)
from tests.prefect_flows import load_flow, read_artifacts
from tests.projects import REPO_ROOT


def training_runs(deployment_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def training_deployment():
    """``shoprec-training/nightly-training`` on the test API, as prefect.yaml declares it (no
    worker runs it here: a started run stays scheduled)."""
    from prefect.client.orchestration import get_client

    config = yaml.safe_load((REPO_ROOT / "flows/prefect.yaml").read_text())
    (declared,) = [d for d in config["deployments"] if d["name"] == "nightly-training"]
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("shoprec-training")
        return client.create_deployment(
            flow_id=flow_id,
            name=declared["name"],
            entrypoint=declared["entrypoint"],
            parameters=declared["parameters"],
        )


@pytest.mark.slow
def test_a_flipped_event_mix_breaches_and_starts_the_training_deployment(
    prefect_api, batch_shop, tmp_path
):
    deployment_id = training_deployment()
    registry = register_production(tmp_path / "registry", batch_shop)
    monitoring = load_flow("monitoring")
    users = [f"u{u:05d}" for u in range(0, 600, 3)]
    shown = served_impressions(batch_shop["model"], users, NOW - pd.Timedelta(days=2))

    def run(name: str, events: pd.DataFrame):
        project = tmp_path / name
        write_project(project, tmp_path / "registry", events)
        write_impressions(project, shown)
        return monitoring.monitoring_flow(
            project_dir=str(project), now=NOW.isoformat(), return_state=True
        )

    clean = run("clean", latest_events())
    assert clean.is_completed() and clean.result()["verdict"] == "ok"
    assert training_runs(deployment_id) == []  # nothing started
    assert all(e["action"] != "monitoring_breach" for e in registry.audit_log("itemknn"))

    drifted = run("drifted", latest_events(FLIPPED_MIX))
    assert drifted.is_failed() and drifted.name == "Breached"
    assert "data drift: event mix" in drifted.message
    report = drifted.result(raise_on_failure=False)
    (started,) = training_runs(deployment_id)
    assert report["training_flow_run_id"] == str(started.id)
    assert started.parameters["project_dir"] == "."
    (breach,) = [e for e in registry.audit_log("itemknn") if e["action"] == "monitoring_breach"]
    assert (breach["by"], breach["version"]) == ("monitoring", 1)
    assert breach["training_flow_run_id"] == str(started.id)
    assert breach["reason"].startswith("data drift: event mix")
    assert breach["report"].endswith(".html") and "drifted" in breach["report"]

    table = read_artifacts("shoprec-monitoring")[0].data
    assert "**BREACH**" in table and "| event mix |" in table and "latest" not in table
    link = read_artifacts("shoprec-monitoring-report")[0].data
    assert f"({(tmp_path / 'drifted').as_uri()}/reports/monitoring/" in link


@pytest.mark.slow
def test_a_breach_with_training_switched_off_is_recorded_without_a_run(
    prefect_api, batch_shop, tmp_path
):
    register_production(tmp_path / "registry", batch_shop)
    project = tmp_path / "project"
    write_project(
        project, tmp_path / "registry", latest_events(FLIPPED_MIX), trigger_training=False
    )
    state = load_flow("monitoring").monitoring_flow(
        project_dir=str(project), now=NOW.isoformat(), return_state=True
    )
    assert state.name == "Breached"
    audit = Registry(LocalStore(tmp_path / "registry")).audit_log("itemknn")
    (breach,) = [e for e in audit if e["action"] == "monitoring_breach"]
    assert breach["training_flow_run_id"] is None and "error" not in breach
    # served checks: no impressions were logged in this project
    assert state.result(raise_on_failure=False)["checks"][1]["verdict"] == "not judged"


def test_prefect_yaml_declares_the_nightly_monitoring_deployment():
    config = yaml.safe_load((REPO_ROOT / "flows/prefect.yaml").read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "nightly-monitoring"]
    assert deployment["entrypoint"] == "flows/monitoring.py:monitoring_flow"
    (schedule,) = deployment["schedules"]
    assert len(schedule["cron"].split()) == 5
