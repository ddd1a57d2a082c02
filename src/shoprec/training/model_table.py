"""Every model by the name used in ``params.yaml`` and ``dvc.yaml``: create one, load a saved one.

It lives above the models it names (the two-stage model is in ``ranking``)."""

from __future__ import annotations

import json
from pathlib import Path

from shoprec.errors import DataError
from shoprec.models.base import FORMAT_VERSION, METADATA_FILE, Recommender, disabled_by
from shoprec.models.ease import EASE
from shoprec.models.embedding import EmbeddingRecommender
from shoprec.models.itemknn import ItemKNN
from shoprec.models.most_popular import MostPopular

MODELS: dict[str, type[Recommender]] = {
    m.name: m for m in (MostPopular, ItemKNN, EASE, EmbeddingRecommender)
}
BASELINES: tuple[str, ...] = ("most_popular", "itemknn", "ease")
# Trained from events by their own stage, not by train@<model>.
EVENT_MODELS: tuple[str, ...] = ("two_tower", "sequential", "two_stage")


def model_class(name: str) -> type[Recommender] | None:
    """The class of a model name; the two-stage model (which builds on the others) is
    imported only when asked for."""
    if name == "two_stage":
        from shoprec.ranking.two_stage import TwoStageRecommender

        return TwoStageRecommender
    if name == "sequential":
        from shoprec.models.sequential.recommender import SequentialRecommender

        return SequentialRecommender
    return MODELS.get(name)


def create_model(name: str, **params) -> Recommender:
    """A new, unfitted model by name."""
    cls = MODELS.get(name)
    if cls is None:
        raise DataError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
    return cls(**params)


def load_model(directory: str | Path, mmap: bool = False) -> Recommender:
    """Load a saved model (safe formats only: JSON + NumPy without pickle); with ``mmap`` its
    arrays are memory-mapped read-only where the format allows (``Recommender._load``)."""
    directory = Path(directory)
    meta_path = directory / METADATA_FILE
    switch = None if meta_path.is_file() else disabled_by(directory)
    if switch is not None:
        key = switch.split(":")[0]
        raise DataError(
            f"{directory} is disabled by {switch} (nothing was trained); set {key}: true in "
            "params.yaml and run dvc repro to train it"
        )
    if not meta_path.is_file():
        raise DataError(f"{directory}: not a saved model (no {METADATA_FILE})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{meta_path}: not valid JSON ({exc})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{directory}: unsupported model format {meta.get('format_version')!r}")
    cls = model_class(meta.get("model", ""))
    if cls is None:
        raise DataError(f"{directory}: unknown model {meta.get('model')!r}")
    try:
        return cls._load(directory, meta, mmap=mmap) if mmap else cls._load(directory, meta)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise DataError(f"{directory}: incomplete or corrupt model files ({exc})") from None


__all__ = [
    "BASELINES",
    "EVENT_MODELS",
    "MODELS",
    "Recommender",
    "create_model",
    "load_model",
    "model_class",
]
