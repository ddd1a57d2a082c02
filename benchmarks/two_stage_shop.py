"""A two-stage model on a large synthetic shop, for benchmarks that need the production model at
catalogue scale.

The pipeline's production model is the two-stage model (candidate sources + an XGBoost ranker,
``shoprec.ranking.two_stage.TwoStageRecommender``), but ``make run`` trains it on the small shop
of params.yaml (a few thousand items). ``benchmarks/serving.py --two-stage DIR`` needs one over a
100,000-item catalogue. This builds it with the pipeline's own code paths: the built-in synthetic
shop (``shoprec.data.synthetic``), validation as in the validate stage, the in-memory holdout of the
benchmarks (``prepare_holdout``, the ``split:`` of params.yaml) and ``fit_two_stage``, the recipe
of the ``train_ranker`` stage. Every setting is params.yaml's except the candidate sources: the
TensorFlow ones (two_tower, sequential) and EASE (a dense items × items inverse: 80 GB in float64
at 100,000 items, beyond models.ease.max_items) are off; itemknn, covisit, popular_recent and
popular_category keep their sizes. On 2 CPU cores, 50,000 users × 100,000 items × 56 days
(3.25M events) took 11.5 min and 7.7 GiB at peak, most of it the ranker's candidate generation
(dense top-k over the catalogue per source) and XGBoost; ``--days 42`` (2.4M events) took 9 min,
6.5 GiB. The output is deterministic for the same arguments.

Writes ``<out>/two_stage`` (the saved model, as ``models/two_stage``) and ``<out>/items.parquet``
(the validated items table, as ``data/validated/items.parquet``: item_id, title, category, brand,
price, ...), then prints the time per step, the model folder's size and its history's shape.

    python benchmarks/two_stage_shop.py --users 50000 --items 100000 --out /tmp/two_stage_100k
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shoprec.config import Params, SyntheticSource, load_params
from shoprec.data.sources import load_source
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.io import write_parquet
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import load_model
from shoprec.training.two_stage import fit_two_stage
from shoprec.validation.batch import validate_batch

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = "two_stage"
ITEMS_FILE = "items.parquet"
# what the service reads of the items table (shoprec.serving.catalogue.Catalogue.build)
SERVED_COLUMNS = ("item_id", "title", "category", "brand", "price")
# candidate sources that cannot run here: TensorFlow models (not trained by this script) and
# EASE (a dense items × items inverse)
SOURCES_OFF = ("two_tower", "sequential", "ease")
DEFAULT_DAYS = 56  # as params.yaml's data.days (the synthetic shop's default)

log = logging.getLogger("two_stage_shop")
T = TypeVar("T")


def shop_params(
    n_users: int,
    n_items: int,
    seed: int,
    days: int = DEFAULT_DAYS,
    params_path: Path = ROOT / "params.yaml",
) -> Params:
    """params.yaml with a synthetic shop of this size, the two-stage model only, and the
    sources in ``SOURCES_OFF`` at 0 candidates."""
    params = load_params(params_path)
    data = SyntheticSource(users=n_users, items=n_items, days=days, seed=seed)
    train = params.train.model_copy(
        update={"two_tower": False, "sequential": False, "two_stage": True}
    )
    two_stage = params.models.two_stage
    candidates = two_stage.candidates.model_copy(update=dict.fromkeys(SOURCES_OFF, 0))
    models = params.models.model_copy(
        update={"two_stage": two_stage.model_copy(update={"candidates": candidates})}
    )
    return params.model_copy(update={"data": data, "train": train, "models": models})


def _timed(steps: dict[str, float], name: str, func: Callable[[], T]) -> T:
    log.info("%s…", name)
    started = time.perf_counter()
    out = func()
    steps[name] = round(time.perf_counter() - started, 1)
    log.info("%s: %.1f s", name, steps[name])
    return out


def folder_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def build_two_stage(
    n_users: int,
    n_items: int,
    directory: Path,
    seed: int = 7,
    *,
    days: int = DEFAULT_DAYS,
    steps: dict[str, float] | None = None,
) -> tuple[Path, Path]:
    """Generate a synthetic shop of ``n_users`` × ``n_items`` (``days`` days), train the
    two-stage model on it and save it; returns (model folder, items Parquet).

    ``steps``, when given, receives the seconds of each step by name."""
    steps = {} if steps is None else steps
    directory = Path(directory)
    params = shop_params(n_users, n_items, seed, days)
    data = _timed(steps, "generate shop", lambda: load_source(params.data))
    settings = params.validation.relative_to(ROOT)
    checked = _timed(
        steps,
        "validate",
        lambda: validate_batch(data.events, data.items, settings, problems=data.problems),
    )
    if not checked.accepted:
        raise SystemExit(f"the synthetic shop was rejected by validation: {checked.message}")
    events, items = checked.events, checked.items
    counts = checked.counts()
    log.info(
        "shop: %d events of %d users, %d items (quarantined: %d events, %d items)",
        len(events),
        events["user_id"].nunique(),
        len(items),
        counts["events"]["quarantined"],
        counts["items"]["quarantined"],
    )
    holdout = _timed(
        steps,
        "split + features",
        lambda: prepare_holdout(events, items, params.split, params.features, params.targets),
    )
    inputs = TrainingInputs.from_holdout(
        holdout, items, params.targets, params.features.event_weights
    )
    p = params.models
    model, report = _timed(
        steps,
        "fit two_stage",
        lambda: fit_two_stage(inputs, p.two_stage, p.itemknn, p.ease),
    )
    log.info(
        "two_stage: sources %s; ranker on %s, %d rounds, %d pairs of %d users; candidate recall "
        "at the validation start: %s",
        ", ".join(report["active_sources"]),
        report["ranker"]["device"],
        report["ranker"]["best_rounds"],
        report["pairs"],
        report["labelled_query_users"],
        report["candidate_recall_at_validation"],
    )
    directory.mkdir(parents=True, exist_ok=True)
    model_dir = _timed(steps, "save model", lambda: model.save(directory / MODEL_DIR))
    missing = [c for c in SERVED_COLUMNS if c not in inputs.items.columns]
    if missing:
        raise SystemExit(f"the items table lacks {missing}")
    items_path = write_parquet(inputs.items, directory / ITEMS_FILE)
    return model_dir, items_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="of the synthetic shop")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="folder for the model and items")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
    )
    for name in ("shoprec", log.name):
        logging.getLogger(name).setLevel(logging.INFO)

    started = time.perf_counter()
    steps: dict[str, float] = {}
    model_dir, items_path = build_two_stage(
        args.users, args.items, args.out, args.seed, days=args.days, steps=steps
    )

    # what the service will see: the model as loaded from disk
    load_started = time.perf_counter()
    model = load_model(model_dir)
    steps["load model"] = round(time.perf_counter() - load_started, 1)
    users, n_items = model.history.shape
    print()
    for name, seconds in steps.items():
        print(f"{name:<18} {seconds:8.1f} s")
    print(f"{'total':<18} {time.perf_counter() - started:8.1f} s")
    print(f"model   {model_dir}  {folder_bytes(model_dir) / 2**20:,.1f} MiB")
    print(f"items   {items_path}  {items_path.stat().st_size / 2**20:,.1f} MiB")
    print(f"history {users:,} users × {n_items:,} items, {model.history.matrix.nnz:,} non-zeros")


if __name__ == "__main__":
    main()
