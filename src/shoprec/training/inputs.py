"""One bundle of what every training recipe reads, instead of long positional lists.

The two-tower and two-stage recipes (and the models to come) fit on the same things: the
train and validation events, the catalogue, the two history matrices (before the validation
start and before the test start), the cut times (``Cuts``: one pair for every user with
``temporal``, each held-out user's own with ``leave_last_out``), what counts as a positive and
how event types are weighted. ``TrainingInputs.from_project`` reads them where the stages
wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shoprec import layout
from shoprec.config import Params, TargetParams
from shoprec.data.split import CUTS_FILE, Cuts
from shoprec.evaluation.holdout import Holdout
from shoprec.features.interactions import Interactions
from shoprec.io import read_parquet


@dataclass(frozen=True)
class TrainingInputs:
    """The data of one training run. ``before_validation``/``before_test`` are the weighted
    user × item histories before each user's validation/test start (``cuts``); both share
    the catalogue order."""

    train: pd.DataFrame
    validation: pd.DataFrame
    items: pd.DataFrame
    before_validation: Interactions
    before_test: Interactions
    cuts: Cuts
    targets: TargetParams
    event_weights: dict[str, float]

    def __post_init__(self) -> None:
        if not np.array_equal(self.before_validation.item_ids, self.before_test.item_ids):
            raise ValueError("the two feature sets must share the catalogue order")

    @property
    def validation_start(self) -> pd.Timestamp:
        """The one validation start of a ``temporal`` split (per-user cuts: ``cuts``)."""
        return self.cuts.validation_start

    @property
    def test_start(self) -> pd.Timestamp:
        """The one test start of a ``temporal`` split (per-user cuts: ``cuts``)."""
        return self.cuts.test_start

    @classmethod
    def from_project(
        cls, params: Params, root: str | Path = ".", columns: tuple[str, ...] | None = None
    ) -> TrainingInputs:
        """What the split and features stages wrote under ``root``; with ``columns``, only
        those columns of the events (a recipe that reads no more: less memory at scale)."""
        root = Path(root)
        return cls(
            train=read_parquet(root / layout.SPLIT / "train.parquet", columns),
            validation=read_parquet(root / layout.SPLIT / "validation.parquet", columns),
            items=read_parquet(root / layout.VALIDATED / layout.ITEMS_FILE),
            before_validation=Interactions.load(root / layout.BEFORE_VALIDATION),
            before_test=Interactions.load(root / layout.BEFORE_TEST),
            cuts=Cuts.from_frame(read_parquet(root / layout.SPLIT / CUTS_FILE)),
            targets=params.targets,
            event_weights=dict(params.features.event_weights),
        )

    @classmethod
    def from_holdout(
        cls,
        holdout: Holdout,
        items: pd.DataFrame,
        targets: TargetParams,
        event_weights: dict[str, float],
    ) -> TrainingInputs:
        """The same inputs from an in-memory ``prepare_holdout`` (benchmarks, tests and the
        cross-validation folds); the holdout's own catalogue wins over ``items``."""
        return cls(
            train=holdout.split.train,
            validation=holdout.split.validation,
            items=holdout.items if holdout.items is not None else items,
            before_validation=holdout.before_validation,
            before_test=holdout.history,
            cuts=holdout.cuts,
            targets=targets,
            event_weights=dict(event_weights),
        )
