"""Two-tower retrieval model (TensorFlow/Keras) behind a pure-NumPy interface.

One module per concept:

- :mod:`.layers`: the custom Keras layers (hashing, catalogue lookups, pooling), registered
  so saved towers load with ``safe_mode=True`` once this package is imported;
- :mod:`.loss`: the in-batch softmax with the logQ popularity correction, temperature,
  per-example weights and accidental-hit masking;
- :mod:`.optimizer`: :class:`LazyAdam`, which updates only the embedding rows of a batch;
- :mod:`.network`: :class:`TwoTower`, the towers, ``fit`` and the embeddings;
- :mod:`.saving`: save/load in safe formats (Keras native, SavedModel, ``.npz`` without
  pickle, JSON).

Its inputs, :class:`ItemFeatures` and :class:`UserInputs`, live in
:mod:`shoprec.features.tower_inputs` (re-exported here) and its hyper-parameters in
:class:`shoprec.config.TwoTowerParams`.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from shoprec.features.tower_inputs import ItemFeatures, UserInputs
from shoprec.models.two_tower.layers import (
    AttentionPooling,
    CatalogueLookup,
    IndexClip,
    MaskedMean,
    TitleHashing,
    UserIdHashing,
)
from shoprec.models.two_tower.loss import in_batch_softmax_loss
from shoprec.models.two_tower.network import TwoTower
from shoprec.models.two_tower.optimizer import LazyAdam

__all__ = [
    "AttentionPooling",
    "CatalogueLookup",
    "IndexClip",
    "ItemFeatures",
    "LazyAdam",
    "MaskedMean",
    "TitleHashing",
    "TwoTower",
    "UserIdHashing",
    "UserInputs",
    "in_batch_softmax_loss",
]
