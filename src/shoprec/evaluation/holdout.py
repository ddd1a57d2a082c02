"""Events → split → history features → test targets, in memory, in one call.

The DVC stages do these steps one file at a time; benchmarks and tests that compare models
on a dataset use this so that they follow exactly the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from shoprec.config import FeatureParams, SplitParams, TargetParams
from shoprec.data.split import Cuts, Split, split_events
from shoprec.evaluation.evaluate import TestTargets, build_targets
from shoprec.features.interactions import Interactions, build_interactions


@dataclass
class Holdout:
    split: Split
    history: Interactions  # before the test period: what models are fit on
    targets: TestTargets
    before_validation: Interactions  # before the validation period: for tuning

    @property
    def cuts(self) -> Cuts:
        """Each user's validation and test start (one pair for all with ``temporal``)."""
        return self.split.cuts


def prepare_holdout(
    events: pd.DataFrame,
    items: pd.DataFrame,
    split: SplitParams,
    features: FeatureParams,
    targets: TargetParams,
) -> Holdout:
    """Split ``events``, build the before-test interactions over ``items``, and the targets."""
    parts = split_events(
        events,
        split.strategy,
        split.test_days,
        split.validation_days,
        targets.relevant_event_types,
        split.min_holdout_events,
    )
    history = build_interactions(
        pd.concat([parts.train, parts.validation], ignore_index=True),
        items["item_id"],
        features.event_weights,
        features.transform,
    )
    targets = build_targets(
        parts.test, history, targets.relevant_event_types, targets.repeat_purchases
    )
    before_validation = build_interactions(
        parts.train, items["item_id"], features.event_weights, features.transform
    )
    return Holdout(
        split=parts, history=history, targets=targets, before_validation=before_validation
    )
