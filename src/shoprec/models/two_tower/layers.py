"""The two-tower model's custom Keras layers.

Each is registered (package ``shoprec``), so a saved tower loads with ``safe_mode=True`` once
:mod:`shoprec.models.two_tower` is imported. Hashing layers need no vocabulary (FarmHash:
stable across runs and machines); the lookup layers turn bad inputs (padding, out-of-range
codes) into a harmless bucket instead of failing an embedding lookup.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

TITLE_MAX_TOKENS = 32  # hashed unigrams first, then bigrams; longer titles are cut
OOV_TOKEN = "[UNK]"  # the string lookups' out-of-vocabulary token (kept out of vocabularies)


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
