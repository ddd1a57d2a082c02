"""Stage ``features``: interaction matrices with event-type weights, and their id maps.

``data/features/before_test`` (train + validation events) is what models are fit on for
the test evaluation; ``data/features/before_validation`` (train events only) is for tuning
and early stopping. Test-period events never reach either. Both are checked against the
features suite (``expectations/features.json``) before they are written.
"""

from __future__ import annotations

import logging

import pandas as pd

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import DataError
from shoprec.features.interactions import Interactions, build_interactions
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


def run(params: Params) -> dict:
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
        check_features(
            interactions,
            params.validation.features_suite,
            params.validation.max_feature_value,
            f"features/{target.name}",
        )
        interactions.save(target)
        n_users, n_items = interactions.shape
        report[target.name] = {
            "users": n_users,
            "items": n_items,
            "nonzeros": int(interactions.matrix.nnz),
            "density": interactions.matrix.nnz / max(1, n_users * n_items),
        }
        log.info(
            "%s: %d users × %d items, %d nonzeros",
            target,
            n_users,
            n_items,
            interactions.matrix.nnz,
        )
    write_json(layout.REPORTS / "features.json", report)
    return report
