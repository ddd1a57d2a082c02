"""Stage ``train_two_tower``: the TensorFlow two-tower retrieval model (GPU when present).

Fits on events before the validation period with early stopping on validation Recall@K,
refits on train + validation, and saves the user and item vectors (NumPy) with the Keras
towers (``models/two_tower/tower``), and the first fit's vectors at the validation start
(``models/two_tower/at_validation_start``), where the two-stage ranker learns.
``reports/two_tower.json`` records the losses, the validation recall per epoch and the
device; the throughput is logged (and measured by ``benchmarks/retrieval.py``).
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import DataError
from shoprec.io import read_json, write_json
from shoprec.stages import without_keys
from shoprec.training.inputs import TrainingInputs
from shoprec.training.two_tower import fit_two_tower

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    split = read_json(layout.REPORTS / "split.json")
    if split.get("strategy") != "temporal":
        raise DataError(
            "train_two_tower: needs split.strategy temporal (user states are taken at the "
            "validation and test start); set train.two_tower: false for leave_last_out"
        )
    inputs = TrainingInputs.from_project(params)
    model, report, at_validation = fit_two_tower(inputs, params.models.two_tower)
    log.info(
        "two-tower trained in %.1f s, %s examples/s on %s",
        report["training_seconds"],
        f"{report['first_fit'].get('examples_per_second', 0):,.0f}",
        report["first_fit"].get("device"),
    )
    model.save(layout.MODELS / "two_tower")
    at_validation.save(layout.TWO_TOWER_AT_VALIDATION)
    write_json(
        layout.REPORTS / "two_tower.json",
        without_keys(report, ("examples_per_second", "training_seconds")),
    )
    return report
