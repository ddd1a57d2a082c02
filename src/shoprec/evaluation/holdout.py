"""Events → split → history features → test targets, in memory, in one call.

The DVC stages do these steps one file at a time; benchmarks and tests that compare models
on a dataset use this so that they follow exactly the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from shoprec.config import FeatureParams, SplitParams, TargetParams
from shoprec.data.split import Cuts, Split, split_fold
from shoprec.evaluation.evaluate import TestTargets, build_targets
from shoprec.features.interactions import Interactions, build_interactions


@dataclass
class Holdout:
    split: Split
    history: Interactions  # before the test period: what models are fit on
    targets: TestTargets
    before_validation: Interactions  # before the validation period: for tuning
    items: pd.DataFrame | None = None  # the catalogue the interactions are over

    @property
    def cuts(self) -> Cuts:
        """Each user's validation and test start (one pair for all with ``temporal``)."""
        return self.split.cuts


def fold_catalogue(items: pd.DataFrame, events: pd.DataFrame, seen: pd.DataFrame) -> pd.DataFrame:
    """The items a fold knows: those with an event in what the fold sees (``seen``), and
    those with no event at all; an item whose first event comes after the fold's test window
    did not exist yet at that time."""
    later = set(events["item_id"].astype(str)) - set(seen["item_id"].astype(str))
    if not later:
        return items
    return items[~items["item_id"].astype(str).isin(later)].reset_index(drop=True)


def prepare_holdout(
    events: pd.DataFrame,
    items: pd.DataFrame,
    split: SplitParams,
    features: FeatureParams,
    targets: TargetParams,
    fold: int = 0,
    step_days: int = 14,
) -> Holdout:
    """Split ``events``, build the before-test interactions over ``items``, and the targets.

    ``fold`` > 0: cross-validation fold ``fold`` (``shoprec.data.split.fold_events``): the
    events after that fold's test window, and the items first seen there, are left out.
    """
    parts = split_fold(
        events,
        split.strategy,
        split.test_days,
        split.validation_days,
        targets.relevant_event_types,
        split.min_holdout_events,
        fold,
        step_days,
    )
    if fold:
        seen = pd.concat([parts.train, parts.validation, parts.test], ignore_index=True)
        items = fold_catalogue(items, events, seen)
    history = build_interactions(
        pd.concat([parts.train, parts.validation], ignore_index=True),
        items["item_id"],
        features.event_weights,
        features.transform,
    )
    test_targets = build_targets(
        parts.test, history, targets.relevant_event_types, targets.repeat_purchases
    )
    before_validation = build_interactions(
        parts.train, items["item_id"], features.event_weights, features.transform
    )
    return Holdout(
        split=parts,
        history=history,
        targets=test_targets,
        before_validation=before_validation,
        items=items,
    )
