"""The ``shoprec`` command line: one sub-app per module, the same entry points the DVC stages
and flows use."""

from __future__ import annotations

import sys

import typer

from shoprec.cli.batch import batch_app
from shoprec.cli.common import console, readable_errors
from shoprec.cli.data import data_app
from shoprec.cli.flow import flow_app
from shoprec.cli.monitor import monitor_app
from shoprec.cli.pipeline import pipeline_app
from shoprec.cli.privacy import privacy_app
from shoprec.cli.registry import registry_app
from shoprec.cli.serve import serve_app
from shoprec.cli.web_console import console_app

app = typer.Typer(
    help="shoprec: train, evaluate and compare product recommenders for an online shop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(pipeline_app)
app.add_typer(monitor_app)
app.add_typer(serve_app)
app.add_typer(data_app, name="data")
app.add_typer(flow_app, name="flow")
app.add_typer(registry_app, name="registry")
app.add_typer(batch_app, name="batch")
app.add_typer(privacy_app, name="privacy")
app.add_typer(console_app, name="console")


def main() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())


__all__ = ["app", "console", "main", "readable_errors"]
