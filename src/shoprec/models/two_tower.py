"""Two-tower retrieval model (TensorFlow/Keras) behind a pure-NumPy interface.

The item tower embeds a catalogue item from its id (trained items only; every other item
shares one out-of-vocabulary id bucket, so it is scored from its content), its top and full
category, brand, price bucket and title (hashed words and word bigrams, masked mean). The
user tower embeds a (user, moment) from the hashed user id, the user's last items (the item
tower's id and category embeddings, pooled with a learned attention query and a per-position
bias; ``-1`` pads) and already scaled behaviour features. Both end L2-normalised, so a score
is a cosine similarity.

Training is an in-batch sampled softmax over the batch's positive items with the logQ
popularity correction (Yi et al. 2019), accidental hits masked, per-example weights, and
optionally extra uniformly sampled negatives. ``id_dropout`` swaps that fraction of the
positive item ids for the OOV id and of the user ids for a "no id" bucket, so both content
paths learn to stand alone (the empty user id ``""`` always gets that bucket: anonymous or
brand-new users). The item tower is fed item *indices*: the per-item features are constant
tables built once in :meth:`TwoTower.fit`, so the ``tf.data`` pipeline carries no item data.
Embedding tables are updated lazily (only the rows in the batch; see ``_LazyAdam``).

Runs on the GPU with mixed precision when TensorFlow sees one (batch size × 4), else on the
CPU in float32. ``fit`` seeds Python/NumPy/TensorFlow (``keras.utils.set_random_seed``) and,
on CPU, turns on TensorFlow op determinism for the whole process: the same seed gives
bit-identical embeddings on the same machine and versions.

On disk (:meth:`TwoTower.save`): ``user_tower.keras`` (inputs ``user_id`` string,
``history`` int32 ``(n, history_length)``, ``behaviour`` float32 when the model has behaviour
features) and ``item_tower.keras`` (raw inputs ``item_id``, ``top_category``, ``category``,
``brand``, ``title`` strings and ``price_bucket`` int32) in the Keras native format, loadable
with ``safe_mode=True`` once this module is imported (it registers the custom layers);
``two_tower.json``; ``catalogue.npz`` (the item feature tables and vocabularies, no pickle);
and optionally a TensorFlow SavedModel of the user tower for TF Serving. Nothing is pickled.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_FILE = "two_tower.json"
USER_TOWER_FILE = "user_tower.keras"
ITEM_TOWER_FILE = "item_tower.keras"
CATALOGUE_FILE = "catalogue.npz"
SAVEDMODEL_DIR = "user_tower_savedmodel"
TITLE_MAX_TOKENS = 32  # hashed unigrams first, then bigrams; longer titles are cut
OOV_TOKEN = "[UNK]"
_MASKED_LOGIT = -1e9
_INFERENCE_BATCH = 8192
_ITEM_FEATURES = ("item_id", "top_category", "category", "brand", "price_bucket", "title")


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Custom layers (registered, so the towers load with safe_mode=True)
# --------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="shoprec")
class TitleHashing(keras.layers.Layer):
    """Title strings → hashed word unigram + bigram ids ``(n, max_tokens)``; 0 pads.

    Lower-cased (Unicode), punctuation and symbols become spaces, split on whitespace.
    No vocabulary: unseen words still hash (FarmHash, stable across runs and machines).
    """

    def __init__(self, num_bins: int, max_tokens: int = TITLE_MAX_TOKENS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_bins = int(num_bins)
        self.max_tokens = int(max_tokens)

    def call(self, titles):
        text = tf.strings.lower(titles, encoding="utf-8")
        text = tf.strings.regex_replace(text, r"[\p{P}\p{S}]+", " ")
        words = tf.strings.split(text)
        grams = tf.strings.ngrams(words, ngram_width=(1, 2), separator=" ")
        ids = tf.strings.to_hash_bucket_fast(grams, self.num_bins - 1) + 1
        return ids.to_tensor(default_value=0, shape=[None, self.max_tokens])

    def compute_output_spec(self, titles):
        return keras.KerasTensor((titles.shape[0], self.max_tokens), dtype="int64")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_bins": self.num_bins, "max_tokens": self.max_tokens}


@keras.saving.register_keras_serializable(package="shoprec")
class UserIdHashing(keras.layers.Layer):
    """User id strings → hash bucket in ``[0, num_bins)`` (FarmHash); the empty string (an
    anonymous user) and, while training, a random ``dropout`` fraction of the rows get the
    extra bucket ``num_bins`` ("no id"), so the history and behaviour path learns to work
    without the id and brand-new users can be served from it."""

    def __init__(self, num_bins: int, dropout: float = 0.0, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_bins = int(num_bins)
        self.dropout = float(dropout)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, user_ids, training=None):
        ids = tf.strings.to_hash_bucket_fast(user_ids, self.num_bins)
        no_id = tf.equal(user_ids, "")
        if training and self.dropout > 0:
            draw = keras.random.uniform(tf.shape(ids), seed=self.seed_generator)
            no_id = tf.logical_or(no_id, draw < self.dropout)
        return tf.where(no_id, tf.constant(self.num_bins, tf.int64), ids)

    def compute_output_spec(self, user_ids, training=None):
        return keras.KerasTensor(user_ids.shape, dtype="int64")

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "dropout": self.dropout,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="shoprec")
class CatalogueLookup(keras.layers.Layer):
    """Catalogue indices ``(n, L)`` (``-1`` pads) → one int feature per item from a constant
    table (stored as a non-trainable weight, so the tower is self-contained). Padding and
    out-of-range indices give 0."""

    def __init__(self, n_items: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_items = int(n_items)
        self.table = self.add_weight(
            shape=(self.n_items + 1,),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="table",
        )

    def call(self, indices):
        indices = keras.ops.cast(indices, "int32")
        valid = keras.ops.logical_and(indices >= 0, indices < self.n_items)
        rows = keras.ops.where(valid, indices + 1, 0)
        return keras.ops.take(self.table, rows, axis=0)

    def compute_output_spec(self, indices):
        return keras.KerasTensor(indices.shape, dtype="int32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n_items": self.n_items}


@keras.saving.register_keras_serializable(package="shoprec")
class IndexClip(keras.layers.Layer):
    """Integer codes → int64 clipped into ``[0, size)`` (a bad price bucket from a caller
    of the saved tower must not crash an embedding lookup)."""

    def __init__(self, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, codes):
        return keras.ops.clip(keras.ops.cast(codes, "int64"), 0, self.size - 1)

    def compute_output_spec(self, codes):
        return keras.KerasTensor(codes.shape, dtype="int64")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="shoprec")
class MaskedMean(keras.layers.Layer):
    """Mean of token embeddings ``(n, T, d)`` over the tokens whose id ``(n, T)`` is > 0;
    a row without tokens gives zeros (never NaN)."""

    def call(self, inputs):
        embedded, token_ids = inputs
        mask = keras.ops.cast(token_ids > 0, embedded.dtype)[..., None]
        total = keras.ops.sum(embedded * mask, axis=1)
        count = keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, input_shape):
        embedded_shape, _ = input_shape
        return (embedded_shape[0], embedded_shape[2])


@keras.saving.register_keras_serializable(package="shoprec")
class AttentionPooling(keras.layers.Layer):
    """Attention pooling of a sequence ``(n, L, d)`` with a learned query and a learned
    per-position bias (position 0 = most recent); ``mask_source`` ``(n, L)`` marks padding
    with negative values. All-padding rows pool to zeros (never NaN)."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        seq_shape, _ = input_shape
        length, width = seq_shape[1], seq_shape[2]
        self.key_kernel = self.add_weight(
            shape=(width, self.units), initializer="glorot_uniform", name="key_kernel"
        )
        self.query = self.add_weight(shape=(self.units,), initializer="random_normal", name="query")
        self.position_bias = self.add_weight(
            shape=(length,), initializer="zeros", name="position_bias"
        )

    def call(self, inputs):
        seq, mask_source = inputs
        mask = mask_source >= 0
        keys = keras.ops.tanh(keras.ops.matmul(seq, self.key_kernel))
        scores = keras.ops.matmul(keys, self.query[:, None])[..., 0] + self.position_bias
        scores = keras.ops.where(mask, scores, keras.ops.cast(-1e4, scores.dtype))
        weights = keras.ops.softmax(scores, axis=-1) * keras.ops.cast(mask, scores.dtype)
        return keras.ops.sum(seq * weights[..., None], axis=1)

    def compute_output_shape(self, input_shape):
        seq_shape, _ = input_shape
        return (seq_shape[0], seq_shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class _LazyAdam(keras.optimizers.Adam):
    """Adam whose embedding tables (sparse gradients) update only the rows in the batch,
    moments included (like TF-Addons' LazyAdam); dense weights get plain Adam. Keras' Adam
    densifies sparse gradients: on a CPU that moves every row of the hashed user and title
    tables each step and costs about a third of the step. Training-only (never saved)."""

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(
            tf.cast(gradient.values, dtype), position, tf.shape(rows)[0]
        )
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = (
            tf.cast(learning_rate, dtype)
            * tf.sqrt(1 - tf.pow(beta_2, step))
            / (1 - tf.pow(beta_1, step))
        )
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m.value, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v.value, rows) + (1 - beta_2) * tf.square(values)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        update = alpha * m_rows / (tf.sqrt(v_rows) + tf.cast(self.epsilon, dtype))
        self.assign_sub(variable, tf.IndexedSlices(update, rows))


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Build layers under a global Keras dtype policy, then put the old one back."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _strings(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(str)


def _behaviour_matrix(values: np.ndarray | None, n: int) -> np.ndarray:
    """Behaviour features as float32 ``(n, n_behaviour)``; ``None`` or a 0-wide array means
    none."""
    if values is None:
        return np.zeros((n, 0), dtype=np.float32)
    matrix = np.asarray(values, dtype=np.float32)
    if matrix.ndim == 1 and matrix.size == n:
        matrix = matrix.reshape(n, 1)
    if matrix.ndim != 2 or len(matrix) != n:
        raise ValueError(f"two_tower: behaviour must be (n_users={n}, n_behaviour)")
    return matrix


def _vocabulary(values: np.ndarray) -> list[str]:
    """Sorted unique strings, without the OOV token (it maps to the OOV bucket anyway)."""
    return [v for v in np.unique(_strings(values)).tolist() if v != OOV_TOKEN]


class TwoTower:
    """Two-tower retrieval model: ``fit`` on NumPy arrays, embeddings out as NumPy arrays."""

    name = "two_tower"

    def __init__(
        self,
        *,
        embedding_dim: int = 64,
        history_length: int = 20,
        user_hash_bins: int = 50_000,
        title_hash_bins: int = 2**16,
        temperature: float = 0.05,
        learning_rate: float = 0.003,
        batch_size: int = 1024,
        epochs: int = 10,
        patience: int = 2,
        id_dropout: float = 0.15,
        random_negatives: int = 0,
        seed: int = 42,
        n_price_buckets: int = 16,
        mixed_precision: bool | None = None,
    ) -> None:
        if embedding_dim < 1 or history_length < 1 or batch_size < 1 or epochs < 1:
            raise ValueError(
                "two_tower: embedding_dim, history_length, batch_size, epochs must be >= 1"
            )
        if user_hash_bins < 1 or title_hash_bins < 2 or n_price_buckets < 1:
            raise ValueError(
                "two_tower: user_hash_bins >= 1, title_hash_bins >= 2, n_price_buckets >= 1"
            )
        if temperature <= 0 or learning_rate <= 0:
            raise ValueError("two_tower: temperature and learning_rate must be > 0")
        if not 0.0 <= id_dropout < 1.0:
            raise ValueError("two_tower: id_dropout must be in [0, 1)")
        if random_negatives < 0 or patience < 0:
            raise ValueError("two_tower: random_negatives and patience must be >= 0")
        self.params: dict[str, Any] = {
            "embedding_dim": int(embedding_dim),
            "history_length": int(history_length),
            "user_hash_bins": int(user_hash_bins),
            "title_hash_bins": int(title_hash_bins),
            "temperature": float(temperature),
            "learning_rate": float(learning_rate),
            "batch_size": int(batch_size),
            "epochs": int(epochs),
            "patience": int(patience),
            "id_dropout": float(id_dropout),
            "random_negatives": int(random_negatives),
            "seed": int(seed),
            "n_price_buckets": int(n_price_buckets),
            "mixed_precision": None if mixed_precision is None else bool(mixed_precision),
        }
        self.user_tower: keras.Model | None = None
        self.item_tower: keras.Model | None = None
        self.item_encoder: keras.Model | None = None
        self.catalogue: dict[str, np.ndarray] = {}
        self.n_behaviour = 0
        self.history_: dict[str, Any] = {}
        self._train_vars: list = []

    # -- building -----------------------------------------------------------------------
    def _build(
        self,
        n_items: int,
        vocab: dict[str, list[str]],
        n_behaviour: int,
    ) -> None:
        """Create the three Keras models. ``vocab``: trained item ids (catalogue order),
        top categories, categories, brands."""
        d = self.params["embedding_dim"]
        small = max(4, d // 2)
        layers = keras.layers
        # Shared by both towers: the user tower embeds history items with them.
        shared = {
            "item_id": layers.Embedding(len(vocab["item_id"]) + 1, d, name="item_id_embedding"),
            "top_category": layers.Embedding(
                len(vocab["top_category"]) + 1, small, name="top_category_embedding"
            ),
            "category": layers.Embedding(len(vocab["category"]) + 1, d, name="category_embedding"),
        }
        self._build_item_towers(vocab, shared)
        self._build_user_tower(n_items, n_behaviour, shared)
        self.n_behaviour = int(n_behaviour)

    def _build_item_towers(self, vocab: dict[str, list[str]], shared: dict) -> None:
        """``item_encoder`` (integer features → vector, what training runs on the tables) and
        ``item_tower`` (raw strings → lookups → ``item_encoder``, what is saved)."""
        p = self.params
        d = p["embedding_dim"]
        small, tiny = max(4, d // 2), max(4, d // 4)
        layers = keras.layers
        enc_in = {
            k: keras.Input((TITLE_MAX_TOKENS,) if k == "title" else (), dtype="int64", name=k)
            for k in _ITEM_FEATURES
        }
        title_emb = layers.Embedding(p["title_hash_bins"], d, name="title_embedding")(
            enc_in["title"]
        )
        parts = [
            shared["item_id"](enc_in["item_id"]),
            shared["top_category"](enc_in["top_category"]),
            shared["category"](enc_in["category"]),
            layers.Embedding(len(vocab["brand"]) + 1, small, name="brand_embedding")(
                enc_in["brand"]
            ),
            layers.Embedding(p["n_price_buckets"], tiny, name="price_embedding")(
                enc_in["price_bucket"]
            ),
            MaskedMean(name="title_mean")([title_emb, enc_in["title"]]),
        ]
        x = layers.Concatenate(name="item_features")(parts)
        x = layers.Dense(2 * d, activation="relu", name="item_hidden")(x)
        x = layers.Dense(d, dtype="float32", name="item_projection")(x)
        out = layers.UnitNormalization(dtype="float32", name="item_l2")(x)
        self.item_encoder = keras.Model(enc_in, out, name="item_encoder")

        raw = {
            k: keras.Input((), dtype="int32" if k == "price_bucket" else "string", name=k)
            for k in _ITEM_FEATURES
        }
        self._lookups = {
            key: layers.StringLookup(
                vocabulary=vocab[key], num_oov_indices=1, mask_token=None, name=f"{key}_lookup"
            )
            for key in ("item_id", "top_category", "category", "brand")
        }
        self._lookups["title"] = TitleHashing(p["title_hash_bins"], name="title_hashing")
        encoded = {k: layer(raw[k]) for k, layer in self._lookups.items()}
        encoded["price_bucket"] = IndexClip(p["n_price_buckets"], name="price_clip")(
            raw["price_bucket"]
        )
        self.item_tower = keras.Model(raw, self.item_encoder(encoded), name="item_tower")

    def _build_user_tower(self, n_items: int, n_behaviour: int, shared: dict) -> None:
        p = self.params
        d = p["embedding_dim"]
        layers = keras.layers
        user_in = {
            "user_id": keras.Input((), dtype="string", name="user_id"),
            "history": keras.Input((p["history_length"],), dtype="int32", name="history"),
        }
        if n_behaviour:  # no behaviour input at all without features (a 0-wide matmul aborts)
            user_in["behaviour"] = keras.Input((n_behaviour,), dtype="float32", name="behaviour")
        user_hash = UserIdHashing(
            p["user_hash_bins"], dropout=p["id_dropout"], seed=p["seed"], name="user_id_hashing"
        )(user_in["user_id"])
        user_emb = layers.Embedding(p["user_hash_bins"] + 1, d, name="user_id_embedding")(user_hash)
        history = user_in["history"]
        self._history_tables = {
            key: CatalogueLookup(n_items, name=f"history_{key}")
            for key in ("item_id", "top_category", "category")
        }
        hist = layers.Concatenate(name="history_features")(
            [shared[key](table(history)) for key, table in self._history_tables.items()]
        )
        hist = layers.Dense(d, activation="relu", name="history_hidden")(hist)
        pooled = AttentionPooling(d, name="history_attention")([hist, history])
        parts = [user_emb, pooled]
        if n_behaviour:
            parts.append(
                layers.Dense(max(4, d // 2), activation="relu", name="behaviour_hidden")(
                    user_in["behaviour"]
                )
            )
        x = layers.Concatenate(name="user_features")(parts)
        x = layers.Dense(2 * d, activation="relu", name="user_hidden")(x)
        x = layers.Dense(d, dtype="float32", name="user_projection")(x)
        out = layers.UnitNormalization(dtype="float32", name="user_l2")(x)
        self.user_tower = keras.Model(user_in, out, name="user_tower")

    def _require_fitted(self) -> None:
        if self.user_tower is None or self.item_tower is None or self.item_encoder is None:
            raise RuntimeError("two_tower: fit or load the model first")

    # -- input checks -------------------------------------------------------------------
    def _check_items(self, items: ItemFeatures) -> None:
        n = len(items.item_ids)
        for field in ("category", "top_category", "brand", "price_bucket", "title"):
            if len(getattr(items, field)) != n:
                raise ValueError(
                    f"two_tower: items.{field} has {len(getattr(items, field))} "
                    f"rows, items.item_ids has {n}"
                )
        price = np.asarray(items.price_bucket)
        if n and (price.min() < 0 or price.max() >= self.params["n_price_buckets"]):
            raise ValueError(
                f"two_tower: price_bucket outside [0, {self.params['n_price_buckets']})"
            )

    def _user_arrays(self, users: UserInputs, n_items: int) -> dict[str, np.ndarray]:
        n = len(users.user_ids)
        length = self.params["history_length"]
        history = np.asarray(users.history)
        if history.ndim != 2 or len(history) != n:
            raise ValueError(f"two_tower: history must be (n_users={n}, history_length)")
        history = history[:, :length].astype(np.int32)  # most recent first: keep the start
        if history.shape[1] < length:
            pad = np.full((n, length - history.shape[1]), -1, dtype=np.int32)
            history = np.concatenate([history, pad], axis=1)
        if history.size and history.max() >= n_items:
            raise ValueError(f"two_tower: history holds item index >= n_items ({n_items})")
        history = np.where(history < 0, -1, history).astype(np.int32)
        behaviour = _behaviour_matrix(users.behaviour, n)
        if behaviour.shape[1] != self.n_behaviour:
            raise ValueError(
                f"two_tower: behaviour has {behaviour.shape[1]} columns, "
                f"the model was trained with {self.n_behaviour}"
            )
        if not np.isfinite(behaviour).all():
            raise ValueError("two_tower: behaviour features must be finite")
        arrays = {"user_id": _strings(users.user_ids), "history": history}
        if self.n_behaviour:
            arrays["behaviour"] = behaviour
        return arrays

    @staticmethod
    def _raw_items(items: ItemFeatures) -> dict[str, np.ndarray]:
        return {
            "item_id": _strings(items.item_ids),
            "top_category": _strings(items.top_category),
            "category": _strings(items.category),
            "brand": _strings(items.brand),
            "price_bucket": np.asarray(items.price_bucket, dtype=np.int32),
            "title": _strings(items.title),
        }

    def _encode_items(self, items: ItemFeatures) -> dict[str, np.ndarray]:
        """The integer feature tables of a catalogue (what the item encoder eats)."""
        raw = self._raw_items(items)
        tables = {
            key: layer(tf.constant(raw[key])).numpy().astype(np.int32)
            for key, layer in self._lookups.items()
        }
        tables["price_bucket"] = raw["price_bucket"]
        return tables

    def _check_training_inputs(
        self,
        items: ItemFeatures,
        n: int,
        train_items: np.ndarray,
        train_weights: np.ndarray,
        trained_item_mask: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self._check_items(items)
        n_items = len(items.item_ids)
        item_ids = _strings(items.item_ids)
        if n_items == 0 or len(np.unique(item_ids)) != n_items:
            raise ValueError("two_tower: items.item_ids must be non-empty and unique")
        mask = np.asarray(trained_item_mask, dtype=bool)
        if mask.shape != (n_items,):
            raise ValueError(f"two_tower: trained_item_mask must have shape ({n_items},)")
        if not mask.any():
            raise ValueError("two_tower: trained_item_mask marks no item as trained")
        positives = np.asarray(train_items).astype(np.int64)
        weights = np.asarray(train_weights, dtype=np.float32)
        if n == 0 or positives.shape != (n,) or weights.shape != (n,):
            raise ValueError("two_tower: train_items and train_weights need one entry per example")
        if positives.min() < 0 or positives.max() >= n_items:
            raise ValueError(f"two_tower: train_items outside [0, {n_items})")
        if not np.isfinite(weights).all() or weights.min() < 0 or weights.sum() <= 0:
            raise ValueError("two_tower: train_weights must be finite, >= 0, not all zero")
        return item_ids, mask, positives, weights

    # -- training -----------------------------------------------------------------------
    def fit(
        self,
        items: ItemFeatures,
        train_users: UserInputs,
        train_items: np.ndarray,
        train_weights: np.ndarray,
        trained_item_mask: np.ndarray,
        validate: Callable[[TwoTower], float] | None = None,
    ) -> dict[str, Any]:
        """Train on examples (user row ``i`` bought/viewed catalogue item ``train_items[i]``).

        ``validate(self)`` runs after each epoch and returns a score to maximise; training
        stops after ``patience`` epochs without improvement and the best epoch's weights come
        back. Returns ``loss`` and ``val`` per epoch, ``best_epoch`` (0-based index into
        them), ``examples_per_second``, ``device``, ``mixed_precision``, ``batch_size``.
        """
        p = self.params
        n_items, n = len(items.item_ids), len(train_users.user_ids)
        item_ids, mask, positives, weights = self._check_training_inputs(
            items, n, train_items, train_weights, trained_item_mask
        )

        gpu = bool(tf.config.list_physical_devices("GPU"))
        mixed = gpu if p["mixed_precision"] is None else bool(p["mixed_precision"])
        keras.utils.set_random_seed(p["seed"])
        if not gpu:
            # Bit-identical CPU runs. Not on GPU: there it would fail (embedding gradients
            # go through unsorted_segment_sum) or fall back to slow host scatter ops.
            tf.config.experimental.enable_op_determinism()
        batch_size = p["batch_size"] * (4 if gpu else 1)

        self.n_behaviour = _behaviour_matrix(train_users.behaviour, n).shape[1]
        users = self._user_arrays(train_users, n_items)
        vocab = {
            "item_id": item_ids[mask].tolist(),
            "top_category": _vocabulary(items.top_category),
            "category": _vocabulary(items.category),
            "brand": _vocabulary(items.brand),
        }
        with _dtype_policy("mixed_float16" if mixed else "float32"):
            self._build(n_items, vocab, self.n_behaviour)
        tables = self._encode_items(items)
        for key, layer in self._history_tables.items():
            layer.table.assign(np.concatenate([[0], tables[key]]).astype(np.int32))
        self.catalogue = {
            "item_ids": item_ids,
            "trained_item_mask": mask,
            **tables,
            **{f"vocab_{key}": np.asarray(values, dtype=str) for key, values in vocab.items()},
        }

        counts = np.bincount(positives, minlength=n_items).astype(np.float64)
        log_q = np.log(np.maximum(counts, 1.0) / counts.sum()).astype(np.float32)
        train_step = self._make_train_step(tables, log_q, mixed)

        # Shuffle and batch example *indices*, then gather whole batches: 4x faster than
        # shuffling element dicts, and the shuffle buffer holds ints, not copies of the data.
        examples = {
            k: tf.constant(v) for k, v in {**users, "item": positives, "weight": weights}.items()
        }
        dataset = (
            tf.data.Dataset.from_tensor_slices(np.arange(n, dtype=np.int64))
            .shuffle(n, seed=p["seed"], reshuffle_each_iteration=True)
            .batch(batch_size, drop_remainder=False)
            .map(lambda rows: {k: tf.gather(v, rows) for k, v in examples.items()})
            .prefetch(tf.data.AUTOTUNE)
        )

        history: dict[str, Any] = {"loss": [], "val": []}
        best_score, best_epoch, waited = -math.inf, 0, 0
        best_weights: list[np.ndarray] | None = None
        train_seconds, step = 0.0, 0
        device = "GPU" if gpu else "CPU"
        for epoch in range(p["epochs"]):
            start = time.perf_counter()
            losses = []
            for batch in dataset:
                losses.append(train_step(batch, tf.constant(step, tf.int64)))
                step += 1
            epoch_loss = float(np.mean([float(x) for x in losses]))
            seconds = time.perf_counter() - start
            train_seconds += seconds
            history["loss"].append(epoch_loss)
            score = None
            if validate is not None:
                score = float(validate(self))
                history["val"].append(score)
                if score > best_score:  # NaN never improves
                    best_score, best_epoch, waited = score, epoch, 0
                    best_weights = [v.numpy() for v in self._train_vars]
                else:
                    waited += 1
            else:
                best_epoch = epoch
            logger.info(
                "two_tower epoch %d/%d: loss %.4f, val %s, %.0f examples/s (%s%s)",
                epoch + 1,
                p["epochs"],
                epoch_loss,
                "-" if score is None else f"{score:.4f}",
                n / seconds,
                device,
                ", mixed_float16" if mixed else "",
            )
            if validate is not None and waited >= max(p["patience"], 1):
                logger.info(
                    "two_tower: no improvement for %d epoch(s); best epoch %d",
                    waited,
                    best_epoch + 1,
                )
                break
        if best_weights is not None:
            for variable, value in zip(self._train_vars, best_weights, strict=True):
                variable.assign(value)
        epochs_run = len(history["loss"])
        history.update(
            best_epoch=int(best_epoch),
            examples_per_second=float(n * epochs_run / max(train_seconds, 1e-9)),
            device=device,
            mixed_precision=bool(mixed),
            batch_size=int(batch_size),
        )
        self.history_ = history
        return history

    def _make_train_step(
        self,
        tables: dict[str, np.ndarray],
        log_q: np.ndarray,
        mixed: bool,
    ) -> Callable:
        p = self.params
        n_items = len(log_q)
        const = {k: tf.constant(v, dtype=tf.int64) for k, v in tables.items()}
        log_q_t = tf.constant(log_q)
        seen: dict[int, Any] = {}
        for v in self.user_tower.trainable_variables + self.item_encoder.trainable_variables:
            seen.setdefault(id(v), v)
        variables = list(seen.values())
        self._train_vars = variables
        optimizer = _LazyAdam(learning_rate=p["learning_rate"], name="lazy_adam")
        if mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(variables)
        user_tower, item_encoder = self.user_tower, self.item_encoder
        temperature = p["temperature"]
        id_dropout, n_random = p["id_dropout"], p["random_negatives"]
        seed = tf.constant(p["seed"], tf.int64)
        random_log_q = float(np.log(1.0 / n_items))
        length = p["history_length"]

        signature = {
            "user_id": tf.TensorSpec([None], tf.string),
            "history": tf.TensorSpec([None, length], tf.int32),
            "item": tf.TensorSpec([None], tf.int64),
            "weight": tf.TensorSpec([None], tf.float32),
        }
        user_keys = ["user_id", "history"]
        if self.n_behaviour:
            signature["behaviour"] = tf.TensorSpec([None, self.n_behaviour], tf.float32)
            user_keys.append("behaviour")

        @tf.function(input_signature=[signature, tf.TensorSpec([], tf.int64)])
        def train_step(batch, step):
            positives = batch["item"]
            features = {k: tf.gather(t, positives) for k, t in const.items()}
            if id_dropout > 0:
                drop = tf.random.stateless_uniform(tf.shape(positives), seed=[seed, step])
                features["item_id"] = tf.where(
                    drop < id_dropout, tf.zeros_like(positives), features["item_id"]
                )
            user_in = {k: batch[k] for k in user_keys}
            with tf.GradientTape() as tape:
                u = tf.cast(user_tower(user_in, training=True), tf.float32)
                v = tf.cast(item_encoder(features, training=True), tf.float32)
                logits = tf.matmul(u, v, transpose_b=True) / temperature
                logits -= tf.gather(log_q_t, positives)[None, :]
                size = tf.shape(positives)[0]
                accidental = tf.logical_and(
                    tf.equal(positives[:, None], positives[None, :]),
                    tf.logical_not(tf.eye(size, dtype=tf.bool)),
                )
                logits = tf.where(accidental, _MASKED_LOGIT, logits)
                if n_random > 0:
                    negatives = tf.random.stateless_uniform(
                        [n_random],
                        seed=[seed + 1, step],
                        minval=0,
                        maxval=n_items,
                        dtype=tf.int64,
                    )
                    neg_features = {k: tf.gather(t, negatives) for k, t in const.items()}
                    vn = tf.cast(item_encoder(neg_features, training=True), tf.float32)
                    neg_logits = tf.matmul(u, vn, transpose_b=True) / temperature - random_log_q
                    hit = tf.equal(positives[:, None], negatives[None, :])
                    logits = tf.concat([logits, tf.where(hit, _MASKED_LOGIT, neg_logits)], 1)
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=tf.range(size), logits=logits
                )
                w = batch["weight"]
                loss = tf.reduce_sum(w * per_example) / tf.maximum(tf.reduce_sum(w), 1e-12)
                scaled = optimizer.scale_loss(loss) if mixed else loss
            grads = tape.gradient(scaled, variables)
            optimizer.apply(grads, variables)
            return loss

        return train_step

    # -- embeddings ---------------------------------------------------------------------
    def _batched(
        self, model: keras.Model, arrays: dict[str, np.ndarray], dtypes: dict
    ) -> np.ndarray:
        """Run a tower eagerly, batch by batch. (Eager on purpose: a tf.function per model
        would be retraced for every refit in a process, e.g. rolling-origin folds.)"""
        n = len(next(iter(arrays.values())))
        out = np.empty((n, self.params["embedding_dim"]), dtype=np.float32)
        for start in range(0, n, _INFERENCE_BATCH):
            batch = {
                k: tf.constant(v[start : start + _INFERENCE_BATCH], dtype=dtypes[k])
                for k, v in arrays.items()
            }
            out[start : start + _INFERENCE_BATCH] = np.asarray(model(batch, training=False))
        return out

    def user_embeddings(self, users: UserInputs) -> np.ndarray:
        """L2-normalised user vectors ``(n, embedding_dim)`` float32."""
        self._require_fitted()
        if len(users.user_ids) == 0:
            return np.zeros((0, self.params["embedding_dim"]), dtype=np.float32)
        arrays = self._user_arrays(users, len(self.catalogue["item_ids"]))
        dtypes = {"user_id": tf.string, "history": tf.int32, "behaviour": tf.float32}
        return self._batched(self.user_tower, arrays, dtypes)

    def item_embeddings(self, items: ItemFeatures | None = None) -> np.ndarray:
        """L2-normalised vectors ``(n_items, embedding_dim)`` float32 of the training
        catalogue (``items=None``) or of any other item table: items not trained on (unknown
        id) share the out-of-vocabulary id bucket and are placed by their content."""
        self._require_fitted()
        if items is None:
            arrays = {k: self.catalogue[k] for k in _ITEM_FEATURES}
            return self._batched(self.item_encoder, arrays, dict.fromkeys(_ITEM_FEATURES, tf.int64))
        self._check_items(items)
        dtypes = {k: tf.int32 if k == "price_bucket" else tf.string for k in _ITEM_FEATURES}
        return self._batched(self.item_tower, self._raw_items(items), dtypes)

    # -- persistence --------------------------------------------------------------------
    def save(self, directory: str | Path, export_savedmodel: bool = True) -> Path:
        """Write the towers (Keras native), ``catalogue.npz``, ``two_tower.json`` (last) and,
        with ``export_savedmodel``, a TF SavedModel of the user tower for TF Serving."""
        self._require_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.user_tower.save(directory / USER_TOWER_FILE)
        self.item_tower.save(directory / ITEM_TOWER_FILE)
        np.savez(directory / CATALOGUE_FILE, **self.catalogue)
        if export_savedmodel:
            self.user_tower.export(str(directory / SAVEDMODEL_DIR), verbose=False)
        meta = {
            "model": self.name,
            "format_version": FORMAT_VERSION,
            "params": self.params,
            "n_items": len(self.catalogue["item_ids"]),
            "n_trained_items": int(self.catalogue["trained_item_mask"].sum()),
            "n_behaviour": self.n_behaviour,
            "title_max_tokens": TITLE_MAX_TOKENS,
            "oov_token": OOV_TOKEN,
            "vocabulary_sizes": {
                key[len("vocab_") :]: len(value)
                for key, value in self.catalogue.items()
                if key.startswith("vocab_")
            },
            "files": {
                "user_tower": USER_TOWER_FILE,
                "item_tower": ITEM_TOWER_FILE,
                "catalogue": CATALOGUE_FILE,
                "user_tower_savedmodel": SAVEDMODEL_DIR if export_savedmodel else None,
            },
            "training": self.history_,
        }
        (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TwoTower:
        """Inverse of :meth:`save` (``safe_mode=True``, ``allow_pickle=False``)."""
        directory = Path(directory)
        meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
        if meta.get("model") != cls.name or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{directory}: not a two_tower model of format {FORMAT_VERSION}")
        if meta.get("title_max_tokens") != TITLE_MAX_TOKENS:
            raise ValueError(f"{directory}: saved with another title length")
        model = cls(**meta["params"])
        load = keras.saving.load_model
        model.user_tower = load(directory / USER_TOWER_FILE, safe_mode=True, compile=False)
        model.item_tower = load(directory / ITEM_TOWER_FILE, safe_mode=True, compile=False)
        model.item_encoder = model.item_tower.get_layer("item_encoder")
        with np.load(directory / CATALOGUE_FILE, allow_pickle=False) as arrays:
            model.catalogue = {key: arrays[key] for key in arrays.files}
        model.n_behaviour = int(meta["n_behaviour"])
        model.history_ = meta.get("training", {})
        return model
