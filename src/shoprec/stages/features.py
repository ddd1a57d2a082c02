"""Stage ``features``: interaction matrices with event-type weights, and their id maps.

``data/features/before_test`` (train + validation events) is what models are fit on for
the test evaluation; ``data/features/before_validation`` (train events only) is for tuning
and early stopping. Test-period events never reach either.
"""

from __future__ import annotations

import logging

import pandas as pd

from shoprec import layout
from shoprec.config import Params
from shoprec.features.interactions import build_interactions
from shoprec.io import read_parquet, write_json

log = logging.getLogger(__name__)


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
