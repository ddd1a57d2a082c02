"""Prefect monitoring flow: drift of the latest data, drift of what was served, online quality.

``shoprec.monitoring.monitor`` does the work (the same code as ``shoprec monitor``): the
production version's reference profiles from its registry manifest against the latest
``monitoring.days`` of events and impressions, three checks with the thresholds of
``monitoring`` in params.yaml, a report as HTML and JSON under ``monitoring.report_dir``.
The verdict table is the ``shoprec-monitoring`` artifact, the page the
``shoprec-monitoring-report`` link.

On a breach the run ends in a Failed state named ``Breached`` (red in the UI, so failure
notifications and automations fire; the report is complete: nothing crashed) after two
things: with ``monitoring.trigger_training`` the training deployment is started
(``run_deployment(..., timeout=0)``: started, not awaited), and the breach, its reasons and
that flow run's id go to the registry's audit log (action ``monitoring_breach``).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from shoprec.config import load_params
from shoprec.monitoring.report import report_markdown
from shoprec.monitoring.run import monitor, record_breach

BREACHED = "Breached"


@task(retries=0, persist_result=False)
def run_checks(project_dir: str, now: str | None) -> dict:
    """The three checks and the report (``MonitoringReport.to_dict()``)."""
    root = Path(project_dir)
    report = monitor(root, load_params(root / "params.yaml"), now)
    get_run_logger().info("%s v%d: %s", report.model, report.version, report.verdict)
    return report.to_dict()


def start_training(deployment: str) -> tuple[str | None, str | None]:
    """Start the training deployment without waiting; ``(flow run id, error)``."""
    try:
        run = run_deployment(name=deployment, timeout=0)
    except Exception as exc:  # a missing deployment must not hide the breach
        return None, f"could not start {deployment}: {exc}"
    return str(run.id), None


@flow(name="shoprec-monitoring", log_prints=True, persist_result=False)
def monitoring_flow(project_dir: str = ".", now: str | None = None):
    """Monitor the production model of ``project_dir`` over the latest ``monitoring.days``
    before ``now`` (ISO time; default: the clock). Returns the report as a dict in a
    Completed state, or in a Failed state named ``Breached``."""
    logger = get_run_logger()
    root = Path(project_dir).resolve()
    params = load_params(root / "params.yaml")
    report = run_checks(str(root), now)
    page = report["html"]
    link = Path(page).resolve().as_uri() if page else None
    create_markdown_artifact(
        key="shoprec-monitoring",
        markdown=report_markdown(report, link),
        description="Monitoring: data drift, recommendation drift, online quality",
    )
    if link:
        create_link_artifact(
            key="shoprec-monitoring-report", link=link, link_text="monitoring report (HTML)"
        )
    if report["verdict"] != "breach":
        return Completed(message=f"monitoring: {report['verdict']}", data=report)
    m = params.monitoring
    training_run = error = None
    if m.trigger_training:
        training_run, error = start_training(m.training_deployment)
        if error:
            logger.error(error)
        else:
            logger.warning("breach: started %s (flow run %s)", m.training_deployment, training_run)
    record_breach(root, params, report, str(flow_run.id), training_run, error)
    report = {**report, "training_flow_run_id": training_run}
    reasons = "; ".join(report["breaches"])
    return Failed(name=BREACHED, message=f"monitoring breach: {reasons}", data=report)


if __name__ == "__main__":
    monitoring_flow()
