"""Next-item losses: softmax cross-entropy over the whole catalogue, or a sampled softmax.

Full: ``logits = h @ E^T`` over every item, the cross-entropy of the target, weighted mean.

Sampled (catalogues above ``full_softmax_max_items``): ``S`` negatives shared by the batch,
drawn from ``Q`` (the training targets' popularity); every logit, the target's included, is
corrected by ``- log Q(item)`` (Bengio & Senécal; Yi et al. 2019), so the sampled softmax
estimates the full one without favouring popular items. A negative that is the row's own
target (an accidental hit) is masked.
"""

from __future__ import annotations

import tensorflow as tf

MASKED_LOGIT = -1e9


def _weighted_mean(per_example: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(weights * per_example) / tf.maximum(tf.reduce_sum(weights), 1e-12)


def full_softmax_loss(
    hidden: tf.Tensor, table: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor
) -> tf.Tensor:
    """``hidden (P, d)``, ``table (N, d)``, ``targets (P,)`` item indices, ``weights (P,)``."""
    logits = tf.matmul(hidden, table, transpose_b=True)
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    return _weighted_mean(per_example, weights)


def sampled_logits(
    hidden: tf.Tensor,
    table: tf.Tensor,
    targets: tf.Tensor,
    negatives: tf.Tensor,
    log_q: tf.Tensor,
) -> tf.Tensor:
    """``(P, 1 + S)``: column 0 the target, then the shared negatives, all logQ-corrected,
    accidental hits masked."""
    targets = tf.cast(targets, tf.int64)
    negatives = tf.cast(negatives, tf.int64)
    positive = tf.reduce_sum(hidden * tf.gather(table, targets), axis=1, keepdims=True)
    positive -= tf.gather(log_q, targets)[:, None]
    negative = tf.matmul(hidden, tf.gather(table, negatives), transpose_b=True)
    negative -= tf.gather(log_q, negatives)[None, :]
    hit = tf.equal(targets[:, None], negatives[None, :])
    negative = tf.where(hit, tf.constant(MASKED_LOGIT, negative.dtype), negative)
    return tf.concat([positive, negative], axis=1)


def sampled_softmax_loss(
    hidden: tf.Tensor,
    table: tf.Tensor,
    targets: tf.Tensor,
    weights: tf.Tensor,
    negatives: tf.Tensor,
    log_q: tf.Tensor,
) -> tf.Tensor:
    """The weighted cross-entropy of column 0 of :func:`sampled_logits`."""
    logits = sampled_logits(hidden, table, targets, negatives, log_q)
    labels = tf.zeros(tf.shape(logits)[0], dtype=tf.int32)
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return _weighted_mean(per_example, weights)
