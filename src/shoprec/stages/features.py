"""Stage ``features``: interaction matrices with event-type weights, and their id maps.

``data/features/before_test`` (train + validation events) is what models are fit on for
the test evaluation; ``data/features/before_validation`` (train events only) is for tuning
and early stopping. Test-period events never reach either. Both are checked against the
features suite (``expectations/features.json``) before they are written.

With ``compute.engine: dask`` the split's train and validation events are split into day
partitions in a temporary folder under ``data/`` and each matrix is added up from the runs'
partial sums on the cluster (``shoprec.features.partial_sums``): the same matrices, and the
train runs' sums serve both feature sets.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from shoprec import layout
from shoprec.compute import dask_client
from shoprec.config import Params
from shoprec.data.partitions import split_by_day
from shoprec.errors import DataError
from shoprec.features.interactions import Interactions, build_interactions
from shoprec.features.partial_sums import combine_partial_sums, run_partial_sums
from shoprec.io import read_parquet, write_json
from shoprec.validation.suites import validate_table

log = logging.getLogger(__name__)


def check_features(interactions: Interactions, suite, max_value: float, name: str) -> None:
    """Run the features suite on the matrix's cells; a failure stops the pipeline."""
    cells = interactions.matrix.tocoo()
    frame = pd.DataFrame(
        {
            "user_id": interactions.user_ids[cells.row],
            "item_id": interactions.item_ids[cells.col],
            "value": cells.data,
        }
    )
    result = validate_table(frame, suite, name, parameters={"max_feature_value": max_value})
    if not result.success:
        raise DataError(result.message())


def save_features(interactions: Interactions, target: Path, params: Params) -> dict:
    """Check one feature set, write it, and return its line of ``reports/features.json``."""
    check_features(
        interactions,
        params.validation.features_suite,
        params.validation.max_feature_value,
        f"features/{target.name}",
    )
    interactions.save(target)
    n_users, n_items = interactions.shape
    log.info(
        "%s: %d users × %d items, %d nonzeros",
        target,
        n_users,
        n_items,
        interactions.matrix.nnz,
    )
    return {
        "users": n_users,
        "items": n_items,
        "nonzeros": int(interactions.matrix.nnz),
        "density": interactions.matrix.nnz / max(1, n_users * n_items),
    }


def run(params: Params) -> dict:
    with dask_client(params.compute) as client:
        if params.compute.engine == "dask":
            return _run_by_day(params, client)
    return _run_in_memory(params)


def _run_in_memory(params: Params) -> dict:
    train = read_parquet(layout.SPLIT / "train.parquet")
    validation = read_parquet(layout.SPLIT / "validation.parquet")
    catalogue = read_parquet(layout.VALIDATED / layout.ITEMS_FILE)["item_id"]
    f = params.features
    report = {}
    for target, events in (
        (layout.BEFORE_TEST, pd.concat([train, validation], ignore_index=True)),
        (layout.BEFORE_VALIDATION, train),
    ):
        interactions = build_interactions(events, catalogue, f.event_weights, f.transform)
        report[target.name] = save_features(interactions, target, params)
    write_json(layout.REPORTS / "features.json", report)
    return report


def _run_by_day(params: Params, client) -> dict:
    """``_run_in_memory``'s outputs from the partial sums of runs of days."""
    sources = {name: layout.SPLIT / f"{name}.parquet" for name in ("train", "validation")}
    for path in sources.values():
        if not path.exists():
            read_parquet(path)  # the local engine's error
    catalogue = read_parquet(layout.VALIDATED / layout.ITEMS_FILE)["item_id"]
    f = params.features
    sums = {}
    layout.DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".features-", dir=layout.DATA) as work:
        for name, path in sources.items():
            days = split_by_day(path, Path(work).resolve() / name)
            sums[name] = run_partial_sums(
                days.runs(params.compute.partition_rows), f.event_weights, client
            )
    report = {}
    for target, partials in (
        (layout.BEFORE_TEST, sums["train"] + sums["validation"]),
        (layout.BEFORE_VALIDATION, sums["train"]),
    ):
        interactions = combine_partial_sums(partials, catalogue, f.transform)
        report[target.name] = save_features(interactions, target, params)
    write_json(layout.REPORTS / "features.json", report)
    return report
