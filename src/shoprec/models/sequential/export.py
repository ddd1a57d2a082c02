"""The sequential model as a TensorFlow SavedModel, the way TF Serving loads one.

``<dir>/saved_model.pb`` with a ``serving_default`` signature: ``item_ids`` (string,
``(batch, n)``: a shopper's recent item ids, oldest first; ``""`` pads anywhere) and
``event_types`` (string, same shape: ``view`` / ``addtocart`` / ``purchase``) in, ``item_ids``
(string, ``(batch, k)``) and ``scores`` (float32) of the top ``k`` items out, the input items
excluded. The item-id and event-type lookups and the item vectors are inside the SavedModel,
so a client needs nothing from shoprec (``tf.saved_model.load`` or TF Serving's REST API).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from shoprec.features.event_sequences import EVENT_CODES

DEFAULT_K = 100


class SequentialServing(tf.Module):
    def __init__(self, network, item_ids: np.ndarray, item_vectors: np.ndarray, k: int) -> None:
        super().__init__()
        self.network = network
        self.k = int(min(k, len(item_ids)))
        self.length = int(network.length)
        self.item_ids = tf.Variable(np.asarray(item_ids, dtype=str).astype(bytes), trainable=False)
        self.item_vectors = tf.Variable(item_vectors.astype(np.float32), trainable=False)
        self.item_lookup = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(np.asarray(item_ids, dtype=str)),
                tf.range(1, len(item_ids) + 1, dtype=tf.int32),
            ),
            default_value=0,
        )
        self.event_lookup = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(EVENT_CODES)), tf.constant(list(EVENT_CODES.values()), tf.int32)
            ),
            default_value=0,
        )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.string, name="item_ids"),
            tf.TensorSpec([None, None], tf.string, name="event_types"),
        ]
    )
    def serve(self, item_ids, event_types):
        items = self.item_lookup.lookup(item_ids)
        events = self.event_lookup.lookup(event_types) * tf.cast(items > 0, tf.int32)
        # known items to the right, in their order (right-aligned, as the model was trained)
        order = tf.argsort(tf.cast(items > 0, tf.int32), axis=1, stable=True)
        items = tf.gather(items, order, batch_dims=1)[:, -self.length :]
        events = tf.gather(events, order, batch_dims=1)[:, -self.length :]
        table = tf.cast(self.item_vectors, self.network.compute_dtype)
        hidden = self.network.encode(table, items, events, training=False)
        user = tf.cast(hidden[:, -1, :], tf.float32)
        scores = tf.matmul(user, self.item_vectors, transpose_b=True)
        seen = tf.where(items > 0)
        marks = tf.stack([seen[:, 0], tf.cast(tf.gather_nd(items, seen) - 1, tf.int64)], axis=1)
        masked = tf.scatter_nd(marks, tf.ones(tf.shape(marks)[0]), tf.shape(scores, tf.int64))
        scores = tf.where(masked > 0, tf.constant(-np.inf, tf.float32), scores)
        best, idx = tf.math.top_k(scores, k=self.k)
        return {"item_ids": tf.gather(self.item_ids, idx), "scores": best}


def export_savedmodel(model, directory: str | Path, k: int = DEFAULT_K) -> Path:
    """Write ``model`` (a fitted ``SequentialRecommender``) as a SavedModel to ``directory``."""
    network = model._require_network().network
    module = SequentialServing(network, model.history.item_ids, model.item_embeddings, k)
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    return directory
