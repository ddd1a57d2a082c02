"""The in-batch softmax loss against a NumPy computation written the other way round:
accidental hits are *left out* of the softmax (not masked), the logQ correction subtracted
per column, weighted mean over the rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from shoprec.models.two_tower.loss import (
    MASKED_LOGIT,
    in_batch_logits,
    in_batch_softmax_loss,
    popularity_log_q,
    uniform_log_q,
)

N_ITEMS = 5
TRAIN_ITEMS = np.array([0, 0, 0, 1, 2, 2, 3])  # counts 3, 1, 2, 1, 0 -> Q = 3/7, 1/7, 2/7, 1/7
BATCH_ITEMS = np.array([2, 0, 2, 1, 3])  # item 2 is the positive of rows 0 and 2
WEIGHTS = np.array([1.0, 2.0, 0.5, 3.0, 0.0])  # event-type weights; row 4 counts for nothing
TEMPERATURE = 0.1


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def reference_loss(u, v, items, weights, log_q, temperature, neg_v=None, neg_items=None, neg_q=0):
    """Per row: cross-entropy of its own item against the batch's *other* items (the
    duplicates of its own item left out) and the extra negatives that are not its item."""
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    losses = []
    for i in range(len(items)):
        label = u[i] @ v[i] / temperature - log_q[items[i]]
        columns = [label]
        for j in range(len(items)):
            if j != i and items[j] != items[i]:
                columns.append(u[i] @ v[j] / temperature - log_q[items[j]])
        if neg_v is not None:
            for r in range(len(neg_items)):
                if neg_items[r] != items[i]:
                    columns.append(u[i] @ np.asarray(neg_v[r], np.float64) / temperature - neg_q)
        losses.append(_logsumexp(columns) - label)
    weights = np.asarray(weights, np.float64)
    return float((weights * np.array(losses)).sum() / weights.sum())


def _tf(values, dtype=tf.float32):
    return tf.constant(np.asarray(values), dtype=dtype)


@pytest.fixture
def batch():
    rng = np.random.default_rng(3)
    u = rng.normal(size=(5, 3)).astype(np.float32) * 0.3
    v = rng.normal(size=(5, 3)).astype(np.float32) * 0.3
    return u, v, popularity_log_q(TRAIN_ITEMS, N_ITEMS)


def test_popularity_log_q_by_hand():
    expected = np.log([3 / 7, 1 / 7, 2 / 7, 1 / 7, 1 / 7])  # never-positive items count once
    log_q = popularity_log_q(TRAIN_ITEMS, N_ITEMS)
    assert log_q.dtype == np.float32
    np.testing.assert_allclose(log_q, expected, rtol=1e-6)
    assert uniform_log_q(4) == pytest.approx(math.log(0.25))


def test_two_examples_by_hand():
    """u = (1), (1); v = (1), (0); Q = 1/2 each, T = 1, weights 1 and 3:
    row 0: log(e^1 + e^0) - 1, row 1: log(e^1 + e^0) - 0, mean: log(1 + e) - 1/4."""
    loss = in_batch_softmax_loss(
        _tf([[1.0], [1.0]]),
        _tf([[1.0], [0.0]]),
        _tf([0, 1], tf.int64),
        _tf([1.0, 3.0]),
        _tf(np.log([0.5, 0.5])),
        1.0,
    )
    assert float(loss) == pytest.approx(math.log(1 + math.e) - 0.25, rel=1e-6)


def test_the_same_item_twice_is_not_its_own_negative():
    """Two rows with the same positive: each row's only other column is that item, masked,
    so the softmax is over the label alone and the loss is 0 (unmasked it would be log 2)."""
    loss = in_batch_softmax_loss(
        _tf([[1.0], [1.0]]),
        _tf([[1.0], [1.0]]),
        _tf([4, 4], tf.int64),
        _tf([1.0, 1.0]),
        _tf(np.zeros(5)),
        1.0,
    )
    assert abs(float(loss)) < 1e-6


def test_masked_logits_sit_exactly_on_the_accidental_hits(batch):
    u, v, log_q = batch
    logits = in_batch_logits(_tf(u), _tf(v), _tf(BATCH_ITEMS, tf.int64), _tf(log_q), TEMPERATURE)
    expected = u.astype(np.float64) @ v.T / TEMPERATURE - log_q[BATCH_ITEMS][None, :]
    masked = np.zeros((5, 5), dtype=bool)
    masked[0, 2] = masked[2, 0] = True  # rows 0 and 2 share item 2; the diagonal stays
    logits = logits.numpy()
    assert (logits[masked] == MASKED_LOGIT).all()
    np.testing.assert_allclose(logits[~masked], expected[~masked], rtol=1e-5, atol=1e-5)


def test_matches_numpy_with_log_q_duplicates_and_weights(batch):
    u, v, log_q = batch
    loss = in_batch_softmax_loss(
        _tf(u), _tf(v), _tf(BATCH_ITEMS, tf.int64), _tf(WEIGHTS), _tf(log_q), TEMPERATURE
    )
    expected = reference_loss(u, v, BATCH_ITEMS, WEIGHTS, log_q, TEMPERATURE)
    assert loss.dtype == tf.float32
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # the correction matters here: without it (Q uniform) the loss is another number
    flat = np.full(N_ITEMS, -math.log(N_ITEMS), np.float32)
    uncorrected = reference_loss(u, v, BATCH_ITEMS, WEIGHTS, flat, TEMPERATURE)
    assert abs(uncorrected - expected) > 1e-2
    # and so do the weights
    unweighted = reference_loss(u, v, BATCH_ITEMS, np.ones(5), log_q, TEMPERATURE)
    assert abs(unweighted - expected) > 1e-2


def test_matches_numpy_with_extra_negatives(batch):
    u, v, log_q = batch
    neg_items = np.array([2, 4])  # item 2 is the positive of rows 0 and 2: masked there
    neg_v = np.random.default_rng(4).normal(size=(2, 3)).astype(np.float32) * 0.3
    neg_q = uniform_log_q(N_ITEMS)
    loss = in_batch_softmax_loss(
        _tf(u),
        _tf(v),
        _tf(BATCH_ITEMS, tf.int64),
        _tf(WEIGHTS),
        _tf(log_q),
        TEMPERATURE,
        negative_vectors=_tf(neg_v),
        negative_indices=_tf(neg_items, tf.int64),
        negative_log_q=neg_q,
    )
    expected = reference_loss(
        u, v, BATCH_ITEMS, WEIGHTS, log_q, TEMPERATURE, neg_v, neg_items, neg_q
    )
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    logits = in_batch_logits(
        _tf(u),
        _tf(v),
        _tf(BATCH_ITEMS, tf.int64),
        _tf(log_q),
        TEMPERATURE,
        _tf(neg_v),
        _tf(neg_items, tf.int64),
        neg_q,
    ).numpy()
    assert logits.shape == (5, 7)
    assert (logits[[0, 2], 5] == MASKED_LOGIT).all() and (logits[[1, 3, 4], 5] > -1e3).all()
    with pytest.raises(ValueError, match="negative_indices"):
        in_batch_logits(
            _tf(u), _tf(v), _tf(BATCH_ITEMS, tf.int64), _tf(log_q), 1.0, _tf(neg_v), None
        )


def test_temperature_divides_the_similarities(batch):
    """Temperature T on (u, v) equals temperature 1 on (u / T, v); logQ is not scaled."""
    u, v, log_q = batch
    args = (_tf(BATCH_ITEMS, tf.int64), _tf(WEIGHTS), _tf(log_q))
    hot = in_batch_softmax_loss(_tf(u), _tf(v), *args, 0.5)
    scaled = in_batch_softmax_loss(_tf(u / 0.5), _tf(v), *args, 1.0)
    assert float(hot) == pytest.approx(float(scaled), rel=1e-6)
    assert float(hot) == pytest.approx(
        reference_loss(u, v, BATCH_ITEMS, WEIGHTS, log_q, 0.5), rel=1e-5
    )


def test_gradient_ignores_the_masked_duplicate(batch):
    """With only row 0 weighted, row 2's item vector (row 0's item again, masked) gets no
    gradient, the real negatives do, and the gradient matches NumPy finite differences."""
    u, v, log_q = batch
    weights = np.array([1.0, 0.0, 0.0, 0.0, 0.0], np.float32)  # only row 0 counts
    v_t = tf.Variable(v)
    with tf.GradientTape() as tape:
        loss = in_batch_softmax_loss(
            _tf(u), v_t, _tf(BATCH_ITEMS, tf.int64), _tf(weights), _tf(log_q), TEMPERATURE
        )
    grad = tape.gradient(loss, v_t).numpy()
    assert np.abs(grad[2]).max() == 0.0  # the duplicate of row 0's item: no gradient
    assert np.abs(grad[[1, 3, 4]]).max() > 0  # the real negatives get one
    step = 1e-3  # and the rest matches central differences of the NumPy loss
    for j, k in [(0, 0), (1, 2), (3, 1)]:
        plus, minus = v.astype(np.float64).copy(), v.astype(np.float64).copy()
        plus[j, k] += step
        minus[j, k] -= step
        numeric = (
            reference_loss(u, plus, BATCH_ITEMS, weights, log_q, TEMPERATURE)
            - reference_loss(u, minus, BATCH_ITEMS, weights, log_q, TEMPERATURE)
        ) / (2 * step)
        assert grad[j, k] == pytest.approx(numeric, rel=1e-3, abs=1e-4)
