"""The Prefect training flow, run for real against a temporary Prefect API."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import yaml

from shoprec.errors import StageFailed
from tests.projects import REPO_ROOT, write_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def load_training_module():
    spec = importlib.util.spec_from_file_location("training_flow", REPO_ROOT / "flows/training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
        )
    return found


def test_flow_runs_every_stage_through_dvc_and_publishes_the_metrics(prefect_api, tiny_project):
    training = load_training_module()
    # Change a model param so the flow has real work to do, and DVC skips the rest.
    write_params(tiny_project, {"models": {"itemknn": {"neighbors": 20}}})
    metrics = training.training_flow(project_dir=str(tiny_project))
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

    validation = read_artifact("shoprec-validation")
    assert validation and "accepted" in validation[0].data
    artifacts = read_artifact("shoprec-evaluation")
    assert artifacts, "the metrics table artifact was not published"
    assert "| itemknn |" in artifacts[0].data
    assert f"{metrics['ease']['ndcg@10']:.4f}" in artifacts[0].data


def test_a_failing_stage_fails_the_flow_with_the_stage_message(prefect_api, tiny_project):
    training = load_training_module()
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
        training.training_flow(project_dir=str(tiny_project))
    message = str(failure.value)
    assert message.startswith("stage 'validate' failed: shoprec validate: error:")
    assert "unknown_event_type" in message
    assert "expect_column_values_to_be_in_set on 'event_type'" in message
    assert "Traceback" not in message
    assert (tiny_project / "metrics/evaluation.json").read_text() == before
    # The validation report is published even though the batch was rejected.
    (summary,) = read_artifact("shoprec-validation")[:1]
    assert "rejected" in summary.data and "unknown_event_type" in summary.data
    (link,) = read_artifact("shoprec-validation-report")[:1]
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
