"""``shoprec monitor``: the monitoring checks from a terminal, without Prefect (the flow is
``shoprec flow monitor``); prints the verdict table, exits 2 on a breach."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from shoprec.cli.common import console, readable_errors

monitor_app = typer.Typer()
BREACH_EXIT = 2


def print_report(report: dict) -> None:
    from shoprec.render.monitoring import monitoring_table
    from shoprec.render.table import to_rich

    console.print(to_rich(monitoring_table(report)))
    if report.get("html"):
        console.print(f"report: {report['html']}", highlight=False, soft_wrap=True)


@monitor_app.command("monitor")
@readable_errors
def monitor_command(
    now: Annotated[
        datetime | None, typer.Option(help="The end of the checked window (default: now, UTC).")
    ] = None,
    params: Annotated[Path, typer.Option("--params", "-p", help="Parameters file.")] = Path(
        "params.yaml"
    ),
) -> None:
    """Data drift, recommendation drift and online quality of the production model over the
    latest monitoring.days; writes the report to monitoring.report_dir. Records nothing in
    the registry and starts no training (the flow does)."""
    from shoprec.config import load_params
    from shoprec.monitoring.run import monitor

    report = monitor(params.resolve().parent, load_params(params), now).to_dict()
    print_report(report)
    if report["verdict"] == "breach":
        raise typer.Exit(BREACH_EXIT)
