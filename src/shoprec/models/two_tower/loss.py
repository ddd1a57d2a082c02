"""The two-tower training loss: an in-batch sampled softmax with the logQ correction.

Every example ``i`` of a batch is a (user ``u_i``, positive item ``v_i``) pair; the other
examples' positives are its negatives. The logit of user ``i`` for batch item ``j`` is

    s_ij = <u_i, v_j> / temperature - log Q(item_j)

where ``Q`` is the probability that an item shows up in a batch (its share of the training
positives): popular items are negatives more often than the softmax over the whole catalogue
would make them, and subtracting ``log Q`` corrects that bias (Yi et al., RecSys 2019). An
item that is the positive of several examples of the batch (an *accidental hit*) is not a
negative of those examples: ``s_ij`` is masked when ``item_i == item_j`` and ``i != j``.
Optional extra negatives (uniform over the catalogue, so ``log Q = -log n_items``) append
columns, masked where they hit the row's positive. The loss is the cross-entropy of the
diagonal, averaged with the per-example weights (the event-type weights of the examples).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

MASKED_LOGIT = -1e9  # a masked logit: exp() of it is exactly 0 next to any real logit


def popularity_log_q(item_indices: np.ndarray, n_items: int) -> np.ndarray:
    """``log Q`` per catalogue item ``(n_items,)`` float32: the log share of the training
    positives ``item_indices`` that are that item (items never positive count once, so the
    table stays finite; they are never in a batch anyway)."""
    counts = np.bincount(item_indices, minlength=n_items).astype(np.float64)
    return np.log(np.maximum(counts, 1.0) / counts.sum()).astype(np.float32)


def uniform_log_q(n_items: int) -> float:
    """``log Q`` of a negative drawn uniformly from ``n_items`` items."""
    return float(np.log(1.0 / n_items))


def in_batch_logits(
    user_vectors: tf.Tensor,
    item_vectors: tf.Tensor,
    item_indices: tf.Tensor,
    log_q: tf.Tensor,
    temperature: float,
    negative_vectors: tf.Tensor | None = None,
    negative_indices: tf.Tensor | None = None,
    negative_log_q: float = 0.0,
) -> tf.Tensor:
    """The corrected, masked logits ``(B, B + R)``: column ``j < B`` is batch item ``j``,
    column ``B + r`` extra negative ``r``; the label of row ``i`` is column ``i``.

    ``user_vectors`` and ``item_vectors`` ``(B, d)`` float32 (row ``i`` of each belongs to
    example ``i``), ``item_indices`` ``(B,)`` int64 catalogue indices of the positives,
    ``log_q`` ``(n_items,)`` float32 (:func:`popularity_log_q`). ``negative_vectors``
    ``(R, d)`` and ``negative_indices`` ``(R,)`` are the extra negatives, whose ``log Q`` is
    ``negative_log_q`` (:func:`uniform_log_q`).
    """
    logits = tf.matmul(user_vectors, item_vectors, transpose_b=True) / temperature
    logits -= tf.gather(log_q, item_indices)[None, :]
    size = tf.shape(item_indices)[0]
    accidental = tf.logical_and(
        tf.equal(item_indices[:, None], item_indices[None, :]),
        tf.logical_not(tf.eye(size, dtype=tf.bool)),
    )
    logits = tf.where(accidental, MASKED_LOGIT, logits)
    if negative_vectors is not None:
        if negative_indices is None:
            raise ValueError("in_batch_logits: negative_vectors need negative_indices")
        neg_logits = (
            tf.matmul(user_vectors, negative_vectors, transpose_b=True) / temperature
            - negative_log_q
        )
        hit = tf.equal(item_indices[:, None], negative_indices[None, :])
        logits = tf.concat([logits, tf.where(hit, MASKED_LOGIT, neg_logits)], 1)
    return logits


def in_batch_softmax_loss(
    user_vectors: tf.Tensor,
    item_vectors: tf.Tensor,
    item_indices: tf.Tensor,
    weights: tf.Tensor,
    log_q: tf.Tensor,
    temperature: float,
    negative_vectors: tf.Tensor | None = None,
    negative_indices: tf.Tensor | None = None,
    negative_log_q: float = 0.0,
) -> tf.Tensor:
    """The weighted mean cross-entropy (a float32 scalar) of :func:`in_batch_logits`:
    ``sum_i w_i * (-log softmax(s_i)_i) / sum_i w_i``; ``weights`` ``(B,)`` float32, >= 0."""
    logits = in_batch_logits(
        user_vectors,
        item_vectors,
        item_indices,
        log_q,
        temperature,
        negative_vectors,
        negative_indices,
        negative_log_q,
    )
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.range(tf.shape(item_indices)[0]), logits=logits
    )
    return tf.reduce_sum(weights * per_example) / tf.maximum(tf.reduce_sum(weights), 1e-12)
