"""The two-tower model's inputs as plain NumPy containers (no TensorFlow).

:mod:`shoprec.features.sequences` builds them from events; :mod:`shoprec.models.two_tower`
eats them. They live in the features layer so that building them never imports a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ItemFeatures:
    """One row per catalogue item, in catalogue order."""

    item_ids: np.ndarray  # str (n_items,)
    category: np.ndarray  # str, full path like "Shoes/Running" ("unknown" allowed)
    top_category: np.ndarray  # str, first path part
    brand: np.ndarray  # str
    price_bucket: np.ndarray  # int32 in [0, n_price_buckets)
    title: np.ndarray  # str (free text)

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass
class UserInputs:
    """One row per (user, moment): a training example or a user "now"."""

    user_ids: np.ndarray  # str (n,)
    history: np.ndarray  # int32 (n, history_length): catalogue indices, most recent first, -1 pads
    behaviour: np.ndarray  # float32 (n, n_behaviour): already scaled numeric features

    def __len__(self) -> int:
        return len(self.user_ids)
