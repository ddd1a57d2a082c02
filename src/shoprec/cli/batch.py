"""``shoprec batch score``: the nightly batch from a terminal, with a progress bar."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from shoprec.cli.common import console, readable_errors

batch_app = typer.Typer(help="Batch scoring.", no_args_is_help=True)


@batch_app.command("score")
@readable_errors
def score(
    output: Annotated[
        str | None,
        typer.Option(
            help="Folder or s3://bucket/prefix; each run writes a subfolder "
            "<as-of date>_<model>-v<version>. Default: batch_scoring.output."
        ),
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", "-k", min=1, help="Default: batch_scoring.k.")
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option(min=1, help="Users per part. Default: batch_scoring.chunk_size.")
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(help="Score a saved model folder instead of the registry alias."),
    ] = None,
    params: Annotated[Path, typer.Option("--params", "-p", help="Parameters file.")] = Path(
        "params.yaml"
    ),
) -> None:
    """Top-K for every active user as Parquet parts; a rerun resumes where a killed one stopped."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from shoprec.batch_scoring.project import fetch_alias_model, score_project
    from shoprec.config import load_params
    from shoprec.render.batch import batch_line

    p = load_params(params)
    settings, root = p.batch_scoring, params.resolve().parent
    if output is not None and not output.startswith("s3://"):
        output = str(Path(output).resolve())  # given here: relative to the current folder
    with tempfile.TemporaryDirectory(prefix="shoprec-batch-") as tmp:
        name, version = None, None
        if model_dir is None:
            with console.status(f"fetching {settings.model}@{settings.alias} from the registry…"):
                name, version = fetch_alias_model(root, tmp, p)
            model_dir = Path(tmp)
        columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        bar = Progress("scoring", *columns, console=console, disable=not console.is_terminal)
        with bar:
            task = bar.add_task("score", total=None)
            result = score_project(  # on compute.engine: this process or a Dask cluster
                root,
                model_dir,
                p,
                name,
                version,
                output,
                k,
                chunk_size,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    console.print(escape(batch_line(result.to_dict())), soft_wrap=True, highlight=False)
