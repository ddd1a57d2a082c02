"""The SASRec-style network: items with their content, causal self-attention over a sequence.

Every catalogue item has one vector: its id embedding (items never seen in training share an
out-of-vocabulary id, so content alone places them) plus embeddings of its category path, top
category, brand, price bucket and the masked mean of its hashed title words. The same table is
the input embedding of a sequence position and the output embedding of the next-item softmax
(tied, as in SASRec). A position's input adds a learned positional embedding and the event
type's embedding (view / add-to-cart / purchase), so the model sees what kind of interest each
event shows. ``blocks`` pre-norm Transformer blocks (causal multi-head self-attention, a
two-layer feed-forward net, dropout, residuals) follow; padded positions are zeroed after each.

The item feature tables are constant, non-trainable weights of the model, so the saved Keras
file carries everything needed to score. ``id_dropout`` hides that share of the item ids per
training step (the whole table at once), so the content path learns to stand alone.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

PACKAGE = "shoprec.sequential"


@keras.saving.register_keras_serializable(package=PACKAGE)
class SequenceNetwork(keras.Model):
    """``call({"items", "events"})`` → hidden states ``(B, L, dim)``; ``item_table()`` →
    ``(n_items, dim)``. ``items`` are catalogue indices + 1 (0 pads), ``events`` codes
    (0 pads)."""

    def __init__(
        self,
        n_items: int,
        vocabulary_sizes: dict[str, int],
        title_tokens: int,
        title_bins: int,
        length: int,
        dim: int = 64,
        blocks: int = 2,
        heads: int = 2,
        dropout: float = 0.2,
        id_dropout: float = 0.1,
        n_event_codes: int = 4,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_items, self.length, self.dim = n_items, length, dim
        self.vocabulary_sizes = dict(vocabulary_sizes)
        self.title_tokens, self.title_bins = title_tokens, title_bins
        self.blocks, self.heads, self.dropout_rate = blocks, heads, dropout
        self.id_dropout, self.n_event_codes, self.seed = id_dropout, n_event_codes, seed

        def table(name: str, shape: tuple[int, ...]):
            return self.add_weight(
                name=name, shape=shape, dtype="int32", initializer="zeros", trainable=False
            )

        self.item_id_code = table("item_id_code", (n_items,))
        self.item_codes = {
            key: table(f"item_{key}", (n_items,)) for key in sorted(self.vocabulary_sizes)
        }
        self.item_title = table("item_title", (n_items, title_tokens))
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.id_embedding = keras.layers.Embedding(n_items + 1, dim, embeddings_initializer=init)
        self.content_embeddings = {
            key: keras.layers.Embedding(size, dim, embeddings_initializer=init, name=f"emb_{key}")
            for key, size in sorted(self.vocabulary_sizes.items())
        }
        self.title_embedding = keras.layers.Embedding(
            title_bins, dim, embeddings_initializer=init, name="emb_title"
        )
        self.position_embedding = keras.layers.Embedding(
            length, dim, embeddings_initializer=init, name="emb_position"
        )
        self.event_embedding = keras.layers.Embedding(
            n_event_codes, dim, embeddings_initializer=init, name="emb_event"
        )
        self.input_dropout = keras.layers.Dropout(dropout)
        self.attention_norms = [
            keras.layers.LayerNormalization(epsilon=1e-6) for _ in range(blocks)
        ]
        self.attentions = [
            keras.layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)
            for _ in range(blocks)
        ]
        self.ffn_norms = [keras.layers.LayerNormalization(epsilon=1e-6) for _ in range(blocks)]
        self.ffn_in = [keras.layers.Dense(dim, activation="gelu") for _ in range(blocks)]
        self.ffn_out = [keras.layers.Dense(dim) for _ in range(blocks)]
        self.block_dropouts = [keras.layers.Dropout(dropout) for _ in range(2 * blocks)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.id_seed = keras.random.SeedGenerator(seed)

    def set_item_tables(self, id_code: np.ndarray, codes: dict[str, np.ndarray], title) -> None:
        self.item_id_code.assign(np.asarray(id_code, dtype=np.int32))
        for key, values in codes.items():
            self.item_codes[key].assign(np.asarray(values, dtype=np.int32))
        self.item_title.assign(np.asarray(title, dtype=np.int32))

    def item_table(self, training: bool = False):
        """``(n_items, dim)``: every catalogue item's vector."""
        ids = tf.convert_to_tensor(self.item_id_code)
        if training and self.id_dropout > 0:
            hide = keras.random.uniform((self.n_items,), seed=self.id_seed) < self.id_dropout
            ids = tf.where(hide, self.n_items, ids)
        vector = self.id_embedding(ids)
        for key, layer in self.content_embeddings.items():
            vector = vector + layer(self.item_codes[key])
        title = tf.convert_to_tensor(self.item_title)
        words = self.title_embedding(title)
        present = tf.cast(title > 0, words.dtype)[..., None]
        count = tf.maximum(tf.reduce_sum(present, axis=1), 1.0)
        return vector + tf.reduce_sum(words * present, axis=1) / count

    def encode(self, table, items, events, training: bool = False):
        """Hidden states ``(B, L, dim)`` of sequences ``items`` (indices + 1) given ``table``."""
        padded = tf.concat([tf.zeros_like(table[:1]), table], axis=0)
        valid = items > 0
        mask = tf.cast(valid, table.dtype)[..., None]
        x = tf.gather(padded, items) * math.sqrt(self.dim)
        # right-aligned: a batch cut to its longest sequence keeps the last positions
        positions = tf.range(self.length - tf.shape(items)[1], self.length)
        x = x + self.position_embedding(positions)[None] + self.event_embedding(events)
        x = self.input_dropout(x, training=training) * mask
        keys = valid[:, None, :]
        for b in range(self.blocks):
            q = self.attention_norms[b](x)
            attended = self.attentions[b](
                q, x, attention_mask=keys, use_causal_mask=True, training=training
            )
            x = x + self.block_dropouts[2 * b](attended, training=training)
            f = self.ffn_out[b](self.ffn_in[b](self.ffn_norms[b](x)))
            x = (x + self.block_dropouts[2 * b + 1](f, training=training)) * mask
        return self.final_norm(x) * mask

    def call(self, inputs, training: bool = False):
        items = tf.cast(inputs["items"], tf.int32)
        events = tf.cast(inputs["events"], tf.int32)
        return self.encode(self.item_table(training), items, events, training)

    def build_all(self) -> None:
        """Create every weight (a call on a dummy batch), before weights are set or loaded."""
        items = np.zeros((1, self.length), dtype=np.int32)
        items[0, -1] = 1
        self({"items": items, "events": np.ones_like(items)}, training=False)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n_items": self.n_items,
            "vocabulary_sizes": self.vocabulary_sizes,
            "title_tokens": self.title_tokens,
            "title_bins": self.title_bins,
            "length": self.length,
            "dim": self.dim,
            "blocks": self.blocks,
            "heads": self.heads,
            "dropout": self.dropout_rate,
            "id_dropout": self.id_dropout,
            "n_event_codes": self.n_event_codes,
            "seed": self.seed,
        }

    def build(self, input_shape=None) -> None:  # weights are made by ``build_all``
        self.built = True

    def get_build_config(self) -> dict[str, Any]:
        return {"build_all": True}

    def build_from_config(self, config: dict[str, Any]) -> None:  # on ``keras.saving.load_model``
        self.build_all()
