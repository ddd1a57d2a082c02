"""Stage ``train_sequential``: the SASRec-style sequential model (TensorFlow, GPU when present).

Fits on each user's events before their validation cut with early stopping on validation
NDCG@K, refits on train + validation, and saves the ranking model (user and item vectors,
the users' last events and the Keras network) to ``models/sequential``, the first fit's
vectors at the validation cut to ``models/sequential/at_validation_start`` (where the
two-stage ranker learns) and a TensorFlow SavedModel with a ``serving_default`` signature to
``models/sequential/savedmodel/1``. ``reports/sequential.json`` records the losses, the
validation NDCG per epoch and the device. With ``train.sequential: false`` it trains nothing
and ``models/sequential`` holds only ``disabled.json``.
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.io import write_json
from shoprec.stages import without_keys
from shoprec.stages.disabled import clear_disabled, skip_disabled
from shoprec.training.inputs import TrainingInputs
from shoprec.training.sequential import fit_sequential

log = logging.getLogger(__name__)
REPORT = layout.REPORTS / "sequential.json"


def run(params: Params) -> dict:
    if not params.train.sequential:
        return skip_disabled("sequential", "train.sequential", layout.SEQUENTIAL, REPORT)
    clear_disabled(layout.SEQUENTIAL)
    inputs = TrainingInputs.from_project(params)
    model, report, at_validation = fit_sequential(inputs, params.models.sequential)
    log.info(
        "sequential trained in %.1f s, %s positions/s on %s",
        report["training_seconds"],
        f"{report['first_fit'].get('positions_per_second', 0):,.0f}",
        report["first_fit"].get("device"),
    )
    model.save(layout.SEQUENTIAL)
    at_validation.save(layout.SEQUENTIAL_AT_VALIDATION)
    from shoprec.models.sequential.export import export_savedmodel

    export_savedmodel(model, layout.SEQUENTIAL_SAVEDMODEL / "1")
    varying = ("positions_per_second", "training_seconds")
    write_json(REPORT, without_keys(report, varying))
    return report
