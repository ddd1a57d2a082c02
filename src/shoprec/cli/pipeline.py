"""The pipeline's commands: one stage, validate an export, params, metrics, recommend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from shoprec.cli.common import (
    ParamsOption,
    console,
    readable_errors,
)
from shoprec.errors import ShoprecError

pipeline_app = typer.Typer()


@pipeline_app.command("stage")
@readable_errors
def stage(
    name: Annotated[
        str,
        typer.Argument(
            help="ingest | validate | split | features | train | train_two_tower | "
            "train_sequential | train_ranker | evaluate"
        ),
    ],
    model: Annotated[str | None, typer.Argument(help="With train: the model to fit.")] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Run one pipeline stage in the current directory, without DVC's bookkeeping.

    Prefer `dvc repro -s NAME` (or `dvc repro train@MODEL`), which also records the outputs.
    """
    from shoprec.config import load_params
    from shoprec.stages import STAGE_PARAMS, configure_logging, run_stage

    if name not in STAGE_PARAMS:
        raise ShoprecError(f"unknown stage {name!r}; stages: {', '.join(STAGE_PARAMS)}")
    configure_logging()
    run_stage(name, load_params(params), *([model] if model else []))


@pipeline_app.command("validate")
@readable_errors
def validate(
    events: Annotated[Path, typer.Option(help="Events file: CSV, CSV.gz or Parquet.")],
    items: Annotated[Path, typer.Option(help="Items (catalogue) file: CSV, CSV.gz or Parquet.")],
    report: Annotated[
        Path | None, typer.Option(help="Directory for the HTML report and its JSON summary.")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Profile of the previous accepted batch: volume and event mix are compared "
            "with it, and an accepted batch is written there as the new one."
        ),
    ] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Check an export against the data contracts (the rules of the validate stage).

    Exit 0 when the batch is accepted (bad rows are counted as quarantined), exit 1 with the
    reason when it is rejected. Uses the `validation` section of the parameters file; the
    suite paths in it are relative to that file's folder (the project root).
    """
    from shoprec.config import load_params
    from shoprec.render.table import to_rich
    from shoprec.render.validation import validation_table
    from shoprec.validation.batch import validate_files

    settings = load_params(params).validation.relative_to(params.resolve().parent)
    with console.status("validating…"):
        outcome = validate_files(events, items, settings, baseline, report)
    console.print(to_rich(validation_table(outcome.summary())))
    if report is not None:
        console.print(f"report: {escape(str(report / 'index.html'))}", highlight=False)
    if not outcome.accepted:
        raise ShoprecError(f"batch rejected: {outcome.message}")
    console.print("[green]batch accepted[/green]")


@pipeline_app.command("params")
@readable_errors
def show_params(params: ParamsOption = Path("params.yaml")) -> None:
    """Check the parameters file and print it with every default filled in."""
    import yaml

    from shoprec.config import load_params

    loaded = load_params(params)
    console.print(yaml.safe_dump(loaded.model_dump(mode="json"), sort_keys=False), highlight=False)


@pipeline_app.command("metrics")
@readable_errors
def metrics(
    path: Annotated[Path, typer.Option(help="Metrics file written by the evaluate stage.")] = Path(
        "metrics/evaluation.json"
    ),
    cv: Annotated[
        bool,
        typer.Option("--cv", help="Per cross-validation fold, with the spread (from --cv-path)."),
    ] = False,
    segments: Annotated[
        bool,
        typer.Option("--segments", help="Per user and item segment (from --segments-path)."),
    ] = False,
    cv_path: Annotated[
        Path, typer.Option(help="Cross-validation summary written by the cv stage.")
    ] = Path("metrics/cv.json"),
    segments_path: Annotated[
        Path, typer.Option(help="Per-segment metrics written by the evaluate stage.")
    ] = Path("metrics/segments.json"),
) -> None:
    """Print the test metrics table of the last evaluation (or per fold, or per segment)."""
    from shoprec.render.table import to_rich

    if cv or segments:
        if cv:
            from shoprec.render.cv import cv_table

            data = _read_metrics_file(
                cv_path, "list folds in evaluation.cv.folds and run `dvc repro cv`"
            )
            table = cv_table(data)
            if table.rows:
                console.print(to_rich(table))
            else:  # no folds were run: the note says so, a table of headers would not
                console.print(f"[yellow]{escape('; '.join(table.notes))}[/yellow]")
        if segments:
            from shoprec.render.segments import segments_table

            data = _read_metrics_file(segments_path, "run `dvc repro evaluate`")
            console.print(to_rich(segments_table(data)))
        return
    from shoprec.evaluation.report import read_metrics
    from shoprec.render.metrics import metrics_table

    metrics, intervals = read_metrics(path, path.with_name("confidence_intervals.json"))
    console.print(to_rich(metrics_table(metrics, intervals)))


def _read_metrics_file(file: Path, advice: str) -> dict:
    """A JSON object a stage wrote, or one readable error: missing (and how to make it) or
    not a JSON object."""
    import json

    if not file.is_file():
        raise ShoprecError(f"{file} is missing: {advice}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShoprecError(f"{file} is not valid JSON ({exc}): {advice}") from None
    if not isinstance(data, dict):
        raise ShoprecError(f"{file} is not a JSON object: {advice}")
    return data


@pipeline_app.command("recommend")
@readable_errors
def recommend(
    user_ids: Annotated[list[str], typer.Argument(help="One or more known user ids.")],
    model: Annotated[Path, typer.Option(help="A saved model folder.")] = Path("models/two_stage"),
    k: Annotated[int, typer.Option("--k", "-k", help="How many items.", min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead.")] = False,
) -> None:
    """Recommend items for known users; the two-stage model also says why.

    Each reason names the features behind it and, for "bought with" and "similar to"
    reasons, the item of the user's own history it comes from.
    """
    import json

    from rich.table import Table

    from shoprec.ranking.two_stage import TwoStageRecommender
    from shoprec.training.model_table import load_model

    loaded = load_model(model)
    if isinstance(loaded, TwoStageRecommender):
        table = loaded.recommend_with_reasons(user_ids, k=k)
    else:
        table = loaded.recommend(user_ids, k=k).assign(source=loaded.name)
        table["reasons"] = [[] for _ in range(len(table))]
    if as_json:
        for record in table.to_dict(orient="records"):
            print(json.dumps(record, default=float))
        return
    for user_id, rows in table.groupby("user_id", sort=False):
        out = Table(
            title=f"{escape(str(user_id))}: top {k} from {loaded.name}", title_justify="left"
        )
        for column in ("rank", "item", "score", "why"):
            out.add_column(column, justify="right" if column in ("rank", "score") else "left")
        for row in rows.itertuples():
            why = "; ".join(r["text"] for r in row.reasons) or (
                "popular overall" if row.source == "popularity_fallback" else "—"
            )
            item = f"{row.item_id} {row.title}" if getattr(row, "title", "") else str(row.item_id)
            out.add_row(str(row.rank), escape(item), f"{row.score:.3f}", escape(why))
        console.print(out)
