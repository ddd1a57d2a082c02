"""The pipeline stages, one module each; ``pipelines/<stage>.py`` and the CLI call ``main``.

``STAGE_PARAMS`` lists the ``params.yaml`` sections each stage reads. ``dvc.yaml`` must
declare exactly these (a test checks it): a stage reading an undeclared parameter would be
skipped, or restored from DVC's run cache, after that parameter changed.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from shoprec.config import Params, load_params
from shoprec.errors import ShoprecError

STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "ingest": ("data", "privacy"),
    "validate": ("validation",),
    "split": ("split", "targets.relevant_event_types"),
    "features": ("features", "validation.features_suite", "validation.max_feature_value"),
    "train": ("models.{model}",),
    "train_two_tower": (
        "train.two_tower",
        "models.two_tower",
        "features.event_weights",
        "targets",
    ),
    "train_sequential": (
        "train.sequential",
        "models.sequential",
        "features.event_weights",
        "targets",
    ),
    "train_ranker": (
        "train.two_stage",
        "train.two_tower",
        "train.sequential",
        "models.two_stage",
        "models.itemknn",
        "models.ease",
        "features.event_weights",
        "targets",
    ),
    "evaluate": (
        "train.models",
        "train.two_tower",
        "train.sequential",
        "train.two_stage",
        "targets",
        "evaluation.ks",
        "evaluation.bootstrap",
        "evaluation.segments",
    ),
    # one stage per fold: the list of folds is not read, so adding a fold runs only that one
    "cv_fold": (
        "split",
        "features",
        "train",
        "models",
        "targets",
        "evaluation.ks",
        "evaluation.bootstrap",
        "evaluation.segments",
        "evaluation.cv.step_days",
    ),
    "cv": ("evaluation.cv.folds",),
}

log = logging.getLogger("shoprec.stages")


def _runner(stage: str) -> Callable[..., object]:
    """The stage's ``run``; only that stage's module is imported (TensorFlow is slow to load)."""
    if stage not in STAGE_PARAMS:
        raise KeyError(stage)
    return importlib.import_module(f"shoprec.stages.{stage}").run


def run_stage(stage: str, params: Params, *args: str) -> object:
    """Run one stage in the current directory (the project root)."""
    started = time.perf_counter()
    result = _runner(stage)(params, *args)
    label = " ".join((stage, *args))
    log.info("stage %s finished in %.1f s", label, time.perf_counter() - started)
    return result


def without_keys(report: object, keys: tuple[str, ...]) -> object:
    """``report`` with ``keys`` removed at every depth: timings and the device vary run to
    run, so they go to the log and the benchmarks, not to a versioned output."""
    if isinstance(report, dict):
        return {k: without_keys(v, keys) for k, v in report.items() if k not in keys}
    return report


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("great_expectations", "numexpr", "tensorflow", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(
    stage: str, argv: list[str] | None = None, params_path: str | Path = "params.yaml"
) -> None:
    """Entry point of ``pipelines/<stage>.py``: one readable line and exit 1 on user errors."""
    configure_logging()
    args = sys.argv[1:] if argv is None else argv
    try:
        run_stage(stage, load_params(params_path), *args)
    except ShoprecError as exc:
        print(f"shoprec {stage}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
