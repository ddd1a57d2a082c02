"""Saving and loading a fitted two-tower model, in safe formats only.

A model directory holds ``user_tower.keras`` (inputs ``user_id`` string, ``history`` int32
``(n, history_length)``, ``behaviour`` float32 when the model has behaviour features) and
``item_tower.keras`` (raw inputs ``item_id``, ``top_category``, ``category``, ``brand``,
``title`` strings and ``price_bucket`` int32) in the Keras native format, loadable with
``safe_mode=True`` once :mod:`shoprec.models.two_tower` is imported (it registers the custom
layers); ``catalogue.npz`` (the item feature tables and vocabularies: strings, integers and
booleans, read with ``allow_pickle=False``); ``two_tower.json`` (written last, so a directory
with it is complete); and optionally a TensorFlow SavedModel of the user tower for TF
Serving, in a TF Serving base path: ``user_tower_savedmodel/1/saved_model.pb`` with a
``serving_default`` signature (the user inputs by name in, ``output_0``, the user vector,
out). Nothing is pickled: a model file comes from a registry and must not run code.

Loading reads the towers, not the SavedModel: directories written before the SavedModel moved
into its version folder (``user_tower_savedmodel/saved_model.pb``) load as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from shoprec.config import TwoTowerParams
from shoprec.models.two_tower.layers import OOV_TOKEN, TITLE_MAX_TOKENS

FORMAT_VERSION = 1
METADATA_FILE = "two_tower.json"
USER_TOWER_FILE = "user_tower.keras"
ITEM_TOWER_FILE = "item_tower.keras"
CATALOGUE_FILE = "catalogue.npz"
SAVEDMODEL_DIR = "user_tower_savedmodel"  # a TF Serving base path: <version>/saved_model.pb
SAVEDMODEL_VERSION = 1
SAVEDMODEL_SIGNATURE = "serving_default"
MODEL_NAME = "two_tower"
# Saved beside the TwoTowerParams fields in the metadata's "params".
_MODEL_KEYWORDS = ("title_hash_bins", "mixed_precision")


def saved_params(model: Any) -> dict[str, Any]:
    """What ``two_tower.json`` records as ``params``: the :class:`TwoTowerParams` fields and
    the model's own keywords (``title_hash_bins``, ``mixed_precision``)."""
    return {**model.params.model_dump(), **{k: getattr(model, k) for k in _MODEL_KEYWORDS}}


def save(model: Any, directory: str | Path, export_savedmodel: bool = True) -> Path:
    """Write a fitted :class:`~shoprec.models.two_tower.TwoTower` to ``directory``: the
    towers (Keras native), ``catalogue.npz``, optionally the SavedModel of the user tower, and
    ``two_tower.json`` last."""
    directory = Path(directory)
    catalogue: dict[str, np.ndarray] = model.catalogue
    for key, values in catalogue.items():
        if np.asarray(values).dtype == object:  # np.savez would pickle it
            raise TypeError(f"two_tower: catalogue[{key!r}] is an object array")
    directory.mkdir(parents=True, exist_ok=True)
    model.user_tower.save(directory / USER_TOWER_FILE)
    model.item_tower.save(directory / ITEM_TOWER_FILE)
    np.savez(directory / CATALOGUE_FILE, **catalogue)
    savedmodel = f"{SAVEDMODEL_DIR}/{SAVEDMODEL_VERSION}"
    if export_savedmodel:
        export_user_tower(model.user_tower, directory / savedmodel)
    meta = {
        "model": MODEL_NAME,
        "format_version": FORMAT_VERSION,
        "params": saved_params(model),
        "n_items": len(catalogue["item_ids"]),
        "n_trained_items": int(catalogue["trained_item_mask"].sum()),
        "n_behaviour": model.n_behaviour,
        "title_max_tokens": TITLE_MAX_TOKENS,
        "oov_token": OOV_TOKEN,
        "vocabulary_sizes": {
            key[len("vocab_") :]: len(value)
            for key, value in catalogue.items()
            if key.startswith("vocab_")
        },
        "files": {
            "user_tower": USER_TOWER_FILE,
            "item_tower": ITEM_TOWER_FILE,
            "catalogue": CATALOGUE_FILE,
            "user_tower_savedmodel": savedmodel if export_savedmodel else None,
        },
        "training": model.history_,
    }
    (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def export_user_tower(user_tower: Any, directory: str | Path) -> Path:
    """Write the user tower as a SavedModel to ``directory`` (a version folder of a TF Serving
    base path). Keras' export names the first endpoint (``serve``) ``serving_default`` too,
    the signature TF Serving answers by default; checked here, so a Keras that stops doing it
    fails the save rather than the server."""
    from tensorflow.core.protobuf import saved_model_pb2

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    user_tower.export(str(directory), verbose=False)
    saved = saved_model_pb2.SavedModel.FromString((directory / "saved_model.pb").read_bytes())
    if not any(SAVEDMODEL_SIGNATURE in graph.signature_def for graph in saved.meta_graphs):
        raise RuntimeError(f"{directory}: the export has no {SAVEDMODEL_SIGNATURE!r} signature")
    return directory


def load(model_class: type, directory: str | Path) -> Any:
    """Inverse of :func:`save` (``safe_mode=True``, ``allow_pickle=False``): a new
    ``model_class`` (:class:`~shoprec.models.two_tower.TwoTower`) with the saved towers.

    Directories written before the parameters moved to :class:`TwoTowerParams` load too:
    their ``params`` lack the fit recipe's ``early_stopping_k`` and ``refit``, which take the
    defaults (they do not change a fitted model)."""
    directory = Path(directory)
    meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    if meta.get("model") != MODEL_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{directory}: not a two_tower model of format {FORMAT_VERSION}")
    if meta.get("title_max_tokens") != TITLE_MAX_TOKENS:
        raise ValueError(f"{directory}: saved with another title length")
    saved = dict(meta["params"])
    keywords = {k: saved.pop(k) for k in _MODEL_KEYWORDS if k in saved}
    model = model_class(TwoTowerParams(**saved), **keywords)
    load_keras = keras.saving.load_model
    model.user_tower = load_keras(directory / USER_TOWER_FILE, safe_mode=True, compile=False)
    model.item_tower = load_keras(directory / ITEM_TOWER_FILE, safe_mode=True, compile=False)
    model.item_encoder = model.item_tower.get_layer("item_encoder")
    with np.load(directory / CATALOGUE_FILE, allow_pickle=False) as arrays:
        model.catalogue = {key: arrays[key] for key in arrays.files}
    model.n_behaviour = int(meta["n_behaviour"])
    model.history_ = meta.get("training", {})
    return model
