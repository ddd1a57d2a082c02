"""The sequential model's losses against a NumPy computation on a tiny batch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from shoprec.models.sequential.loss import (
    full_softmax_loss,
    sampled_logits,
    sampled_softmax_loss,
)

RNG = np.random.default_rng(3)
H = RNG.normal(size=(4, 5)).astype(np.float32)
E = RNG.normal(size=(7, 5)).astype(np.float32)
T = np.array([0, 3, 3, 6])
W = np.array([1.0, 2.0, 0.5, 0.0], dtype=np.float32)


def _cross_entropy(logits: np.ndarray, label: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(label)), label]


def test_full_softmax_is_the_weighted_cross_entropy_over_every_item():
    expected = (W * _cross_entropy(H @ E.T, T)).sum() / W.sum()
    got = float(full_softmax_loss(tf.constant(H), tf.constant(E), tf.constant(T), tf.constant(W)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sampled_softmax_corrects_by_log_q_and_masks_accidental_hits():
    log_q = np.log(RNG.dirichlet(np.ones(7))).astype(np.float32)
    negatives = np.array([1, 3, 5])
    logits = np.concatenate(
        [
            ((H * E[T]).sum(axis=1) - log_q[T])[:, None],
            H @ E[negatives].T - log_q[negatives][None, :],
        ],
        axis=1,
    )
    logits[:, 1:][T[:, None] == negatives[None, :]] = -1e9  # rows 1 and 2 hit negative 3
    got = sampled_logits(
        tf.constant(H), tf.constant(E), tf.constant(T), tf.constant(negatives), tf.constant(log_q)
    ).numpy()
    np.testing.assert_allclose(got, logits, rtol=1e-5)
    assert got[1, 2] == got[2, 2] == -1e9
    expected = (W * _cross_entropy(logits, np.zeros(4, int))).sum() / W.sum()
    loss = sampled_softmax_loss(
        tf.constant(H),
        tf.constant(E),
        tf.constant(T),
        tf.constant(W),
        tf.constant(negatives),
        tf.constant(log_q),
    )
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
