"""Stage ``train_two_tower``: the TensorFlow two-tower retrieval model (GPU when present).

Fits on events before the validation period with early stopping on validation Recall@K,
refits on train + validation, and saves the user and item vectors (NumPy) with the Keras
towers (``models/two_tower/tower``), and the first fit's vectors at the validation start
(``models/two_tower/at_validation_start``), where the two-stage ranker learns. The periods are
each user's own with ``split.strategy: leave_last_out`` (``data/split/cuts.parquet``).
``reports/two_tower.json`` records the losses, the validation recall per epoch and the
device; the throughput is logged (and measured by ``benchmarks/retrieval.py``).
With ``train.two_tower: false`` it trains nothing and ``models/two_tower`` holds only
``disabled.json``.
"""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.io import write_json
from shoprec.stages import without_keys
from shoprec.stages.disabled import clear_disabled, skip_disabled
from shoprec.training.inputs import TrainingInputs
from shoprec.training.two_tower import fit_two_tower

log = logging.getLogger(__name__)
REPORT = layout.REPORTS / "two_tower.json"


def run(params: Params) -> dict:
    if not params.train.two_tower:
        return skip_disabled("two_tower", "train.two_tower", layout.MODELS / "two_tower", REPORT)
    clear_disabled(layout.MODELS / "two_tower")
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
        REPORT,
        without_keys(report, ("examples_per_second", "training_seconds")),
    )
    return report
