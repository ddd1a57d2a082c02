"""Prefect training flow: every ``dvc.yaml`` stage as a Prefect task, then the metrics table.

Stages run through ``dvc repro --single-item`` (see ``shoprec.dvc_stages``), so this flow
and ``dvc repro`` produce the same versioned outputs and share DVC's cache: an unchanged
stage is skipped here too. A failed stage fails the flow with the stage's readable error.
The data validation report is published as artifacts whether the batch was accepted or not.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from shoprec import layout
from shoprec.dvc_stages import list_stages, repro_stage
from shoprec.io import read_json


@task(task_run_name="{stage}", retries=0)
def run_stage(stage: str, project_dir: str, force: bool = False) -> bool:
    """Reproduce one DVC stage; returns True when DVC skipped it as unchanged."""
    logger = get_run_logger()
    outcome = repro_stage(stage, project_dir, force=force)
    logger.info("%s: %s", stage, "unchanged, skipped" if outcome.skipped else "ran")
    for line in outcome.output.splitlines()[-15:]:
        logger.debug(line)
    return outcome.skipped


def metrics_markdown(metrics: dict, intervals: dict) -> str:
    """The evaluation table as Markdown (the Prefect UI renders it)."""
    columns = ["ndcg@10", "recall@20", "precision@10", "hitrate@10", "coverage@10", "novelty@10"]
    columns = [c for c in columns if any(c in m for m in metrics.values())]
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for model, values in metrics.items():
        cells = []
        for c in columns:
            ci = intervals.get(model, {}).get(c)
            interval = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
            cells.append(f"{values[c]:.4f}{interval}" if c in values else "—")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def publish_validation_report(root: Path) -> None:
    """Link the validation report (HTML) and show its counts, accepted or rejected."""
    summary_path = root / layout.VALIDATION_REPORT / "summary.json"
    if not summary_path.is_file():
        return
    summary = read_json(summary_path)
    verdict = "accepted" if summary["accepted"] else f"**rejected**: {summary['message']}"
    lines = [
        f"# Data validation: {verdict}",
        "",
        "| table | in | accepted | quarantined |",
        "|---|---|---|---|",
    ]
    for table, c in summary["counts"].items():
        lines.append(f"| {table} | {c['in']:,} | {c['accepted']:,} | {c['quarantined']:,} |")
    for table, reasons in summary["quarantine_reasons"].items():
        for reason, n in reasons.items():
            lines.append(f"\n- {table}: {reason} × {n:,}")
    create_markdown_artifact(
        key="shoprec-validation", markdown="\n".join(lines), description="Data validation summary"
    )
    create_link_artifact(
        key="shoprec-validation-report",
        link=(root / layout.VALIDATION_REPORT / "index.html").as_uri(),
        link_text="validation report (HTML)",
    )


@flow(name="shoprec-training", log_prints=True)
def training_flow(project_dir: str = ".", force: bool = False) -> dict:
    """Run the whole pipeline of ``project_dir`` and publish the test metrics."""
    logger = get_run_logger()
    root = Path(project_dir).resolve()
    stages = list_stages(root)
    logger.info("stages: %s", ", ".join(stages))
    for stage in stages:
        try:
            run_stage(stage, str(root), force=force)
        finally:
            if stage == "validate":
                publish_validation_report(root)
    metrics = read_json(root / layout.EVALUATION_METRICS)
    intervals_path = root / layout.CONFIDENCE_INTERVALS
    intervals = read_json(intervals_path) if intervals_path.is_file() else {}
    create_markdown_artifact(
        key="shoprec-evaluation",
        markdown="# Test metrics\n\n" + metrics_markdown(metrics, intervals),
        description="Full-ranking test metrics with 95% bootstrap intervals",
    )
    return metrics


if __name__ == "__main__":
    training_flow()
