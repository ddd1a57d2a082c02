"""Stage ``train_ranker``: the two-stage model, candidates from every source ranked by XGBoost.

Learns at the validation start (features from the events before it, labels from the
validation period) and saves the model assembled at the test start to ``models/two_stage``;
``reports/ranker.json`` records the ranker's window, the candidate recall of each source at
the validation start, the training curve and the feature importance.
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import DataError
from shoprec.io import read_json, write_json
from shoprec.stages import without_keys
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import load_model
from shoprec.training.two_stage import fit_two_stage

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    split = read_json(layout.REPORTS / "split.json")
    if split.get("strategy") != "temporal":
        raise DataError(
            "train_ranker: needs split.strategy temporal (the ranker learns at the validation "
            "start); set train.two_stage: false for leave_last_out"
        )
    p = params.models.two_stage
    at_validation = at_test = None
    if p.candidates.two_tower > 0:
        at_test = load_model(layout.MODELS / "two_tower")
        at_validation = load_model(layout.TWO_TOWER_AT_VALIDATION)
    model, report = fit_two_stage(
        TrainingInputs.from_project(params),
        p,
        params.models.itemknn,
        params.models.ease,
        two_tower_at_validation=at_validation,
        two_tower_at_test=at_test,
    )
    log.info(
        "two_stage: ranker on %s, %d rounds, %d pairs of %d users, in %.1f s",
        report["ranker"]["device"],
        report["ranker"]["best_rounds"],
        report["pairs"],
        report["labelled_query_users"],
        report["seconds"],
    )
    model.save(layout.TWO_STAGE)
    varying = ("seconds", "training_seconds", "device")
    write_json(layout.REPORTS / "ranker.json", without_keys(report, varying))
    return report
