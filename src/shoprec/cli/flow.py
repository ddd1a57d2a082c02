"""``shoprec flow``: run the Prefect flows."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from shoprec.cli.common import (
    console,
    readable_errors,
)
from shoprec.errors import ShoprecError

flow_app = typer.Typer(help="Run the Prefect flows.", no_args_is_help=True)


def _load_flow_module(project_dir: Path, name: str):
    path = project_dir / "flows" / f"{name}.py"
    if not path.is_file():
        raise ShoprecError(
            f"{path}: flow not found; run from the project root or pass --project-dir"
        )
    spec = importlib.util.spec_from_file_location(f"shoprec_flows_{name}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@flow_app.command("train")
@readable_errors
def flow_train(
    project_dir: Annotated[Path, typer.Option(help="Project root (with dvc.yaml).")] = Path("."),
    force: Annotated[bool, typer.Option(help="Re-run every stage even if unchanged.")] = False,
    gate: Annotated[
        bool, typer.Option(help="Gate, register and wait for approval after the stages.")
    ] = True,
    by: Annotated[str, typer.Option(help="Who registers (recorded in the audit log).")] = "prefect",
) -> None:
    """Run the training flow (all DVC stages as Prefect tasks), print the metrics table, then
    gate, register and wait for approval (promotion.* in the parameters file).

    Uses the Prefect API in PREFECT_API_URL, or a temporary local one when it is unset.
    """
    from shoprec.release.project import project_metrics
    from shoprec.render.metrics import metrics_table
    from shoprec.render.table import to_rich

    module = _load_flow_module(project_dir, "training")
    logging.getLogger("prefect").setLevel(logging.WARNING)
    try:
        result = module.training_flow(project_dir=str(project_dir), force=force, gate=gate, by=by)
    except ShoprecError:
        raise
    except Exception as exc:  # Prefect wraps some failures; keep the message readable
        raise ShoprecError(f"training flow failed: {exc}") from None
    _, intervals = project_metrics(project_dir)
    console.print(to_rich(metrics_table(result["metrics"], intervals)))
    outcome = result["registry"]
    if outcome:
        where = f" v{outcome['version']}" if outcome["version"] else ""
        reasons = "; ".join(outcome.get("reasons", []))
        console.print(f"{outcome['model']}{where}: {outcome['status']} {escape(reasons)}".strip())


@flow_app.command("monitor")
@readable_errors
def flow_monitor(
    project_dir: Annotated[Path, typer.Option(help="Project root (with params.yaml).")] = Path("."),
    now: Annotated[
        str | None, typer.Option(help="The end of the checked window, ISO time (default: now).")
    ] = None,
) -> None:
    """Run the monitoring flow: the three checks, the report as artifacts; on a breach the
    run is marked Breached, the training deployment started (monitoring.trigger_training)
    and the breach recorded in the audit log. Prints the verdict table; exits 2 on a breach.

    Uses the Prefect API in PREFECT_API_URL, or a temporary local one when it is unset.
    """
    from shoprec.cli.monitor import BREACH_EXIT, print_report

    module = _load_flow_module(project_dir, "monitoring")
    logging.getLogger("prefect").setLevel(logging.WARNING)
    state = module.monitoring_flow(project_dir=str(project_dir), now=now, return_state=True)
    report = state.result(raise_on_failure=False)
    if not isinstance(report, dict):  # the flow itself failed: its error, readably
        raise ShoprecError(f"monitoring flow failed: {state.message or report}")
    print_report(report)
    if report["verdict"] == "breach":
        started = report.get("training_flow_run_id")
        console.print(
            f"[red]breach[/red]: training flow run {started}" if started else "[red]breach[/red]"
        )
        raise typer.Exit(BREACH_EXIT)
