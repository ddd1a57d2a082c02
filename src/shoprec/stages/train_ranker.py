"""Stage ``train_ranker``: the two-stage model, candidates from every source ranked by XGBoost.

Learns at the validation start (features from the events before it, labels from the
validation period; each user's own with ``split.strategy: leave_last_out``) and saves the
model assembled at the test start to ``models/two_stage``; ``reports/ranker.json`` records the
ranker's window, the candidate recall of each source at the validation start, the training
curve and the feature importance. With ``train.two_tower: false`` the two-tower source is off
(the report's ``sources_off`` says so); with ``train.two_stage: false`` it trains nothing and
``models/two_stage`` holds only ``disabled.json``. With ``compute.engine: dask`` the candidates,
pair features and XGBoost run on the Dask cluster (``xgboost.dask``) and the report says
``"engine": "dask"``; the local engine's report is unchanged.
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.compute import dask_client
from shoprec.config import Params
from shoprec.io import write_json
from shoprec.stages import without_keys
from shoprec.stages.disabled import clear_disabled, skip_disabled
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import load_model
from shoprec.training.two_stage import SOURCE_COLUMNS, fit_two_stage

log = logging.getLogger(__name__)
REPORT = layout.REPORTS / "ranker.json"


def run(params: Params) -> dict:
    if not params.train.two_stage:
        return skip_disabled("two_stage", "train.two_stage", layout.TWO_STAGE, REPORT)
    clear_disabled(layout.TWO_STAGE)
    p = params.models.two_stage
    at_validation = at_test = None
    sources_off = {}
    if p.candidates.two_tower > 0 and not params.train.two_tower:
        sources_off["two_tower"] = "train.two_tower: false (no two-tower model was trained)"
        log.info("two_stage: the two_tower source is off: train.two_tower is false")
    elif p.candidates.two_tower > 0:
        at_test = load_model(layout.MODELS / "two_tower")
        at_validation = load_model(layout.TWO_TOWER_AT_VALIDATION)
    sequential_at_validation = sequential_at_test = None
    if p.candidates.sequential > 0 and not params.train.sequential:
        sources_off["sequential"] = "train.sequential: false (no sequential model was trained)"
        log.info("two_stage: the sequential source is off: train.sequential is false")
    elif p.candidates.sequential > 0:
        sequential_at_test = load_model(layout.SEQUENTIAL)
        sequential_at_validation = load_model(layout.SEQUENTIAL_AT_VALIDATION)
    inputs = TrainingInputs.from_project(params, columns=SOURCE_COLUMNS)
    with dask_client(params.compute) as client:
        model, report = fit_two_stage(
            inputs,
            p,
            params.models.itemknn,
            params.models.ease,
            two_tower_at_validation=at_validation,
            two_tower_at_test=at_test,
            sequential_at_validation=sequential_at_validation,
            sequential_at_test=sequential_at_test,
            client=client,
        )
    if sources_off:
        report["sources_off"] = sources_off
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
    write_json(REPORT, without_keys(report, varying))
    return report
