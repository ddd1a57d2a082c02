"""A training stage whose ``train.<model>`` switch in params.yaml is false.

The stage still runs under ``dvc repro`` (its outputs are declared), but it reads no data and
trains nothing: its model folder holds only ``disabled.json`` (``load_model`` on it says which
switch to flip) and its report names the switch. The switch is one of the stage's params in
``dvc.yaml``, so flipping it back re-runs the stage.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shoprec.io import write_json
from shoprec.models.base import DISABLED_FILE, mark_disabled

log = logging.getLogger(__name__)


def skip_disabled(model: str, switch: str, model_dir: Path, report: Path) -> dict:
    """Write the disabled marker into ``model_dir`` (emptied) and the reason to ``report``."""
    mark_disabled(model_dir, model, switch)
    outcome = {"model": model, "disabled_by": f"{switch}: false"}
    write_json(report, outcome)
    log.info("%s: %s is false, nothing trained (%s holds the marker)", model, switch, model_dir)
    return outcome


def clear_disabled(model_dir: Path) -> None:
    """Remove a marker left by an earlier disabled run (outside DVC, which empties outputs)."""
    (Path(model_dir) / DISABLED_FILE).unlink(missing_ok=True)
