"""LazyAdam: a sparse (embedding) gradient moves only the rows it names, by a NumPy Adam
step on those rows; dense weights get Keras' plain Adam."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from shoprec.models.two_tower.optimizer import LazyAdam

LR, BETA_1, BETA_2, EPS = 0.01, 0.9, 0.999, 1e-7


class NumpyLazyAdam:
    """Adam on the named rows only (duplicate rows summed), in float64."""

    def __init__(self, weights: np.ndarray) -> None:
        self.w = weights.astype(np.float64)
        self.m = np.zeros_like(self.w)
        self.v = np.zeros_like(self.w)
        self.t = 0

    def step(self, indices: np.ndarray, values: np.ndarray) -> None:
        self.t += 1
        rows = np.unique(indices)
        g = np.zeros((len(rows), self.w.shape[1]))
        for index, value in zip(indices, values, strict=True):
            g[np.searchsorted(rows, index)] += value
        self.m[rows] = BETA_1 * self.m[rows] + (1 - BETA_1) * g
        self.v[rows] = BETA_2 * self.v[rows] + (1 - BETA_2) * g**2
        alpha = LR * np.sqrt(1 - BETA_2**self.t) / (1 - BETA_1**self.t)
        self.w[rows] -= alpha * self.m[rows] / (np.sqrt(self.v[rows]) + EPS)


def _sparse(indices, values) -> tf.IndexedSlices:
    return tf.IndexedSlices(
        tf.constant(values, tf.float32), tf.constant(indices, tf.int64), tf.constant([6, 3])
    )


def test_sparse_steps_touch_only_their_rows_like_numpy_adam():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(6, 3)).astype(np.float32)
    table = keras.Variable(start, name="table")
    optimizer = LazyAdam(learning_rate=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPS)
    optimizer.build([table])
    reference = NumpyLazyAdam(start)
    steps = [
        (np.array([1, 4, 1]), rng.normal(size=(3, 3))),  # row 1 twice: gradients add up
        (np.array([4, 0]), rng.normal(size=(2, 3))),
    ]
    for indices, values in steps:
        before = np.array(table.numpy())
        optimizer.apply([_sparse(indices, values)], [table])
        reference.step(indices, values)
        after = table.numpy()
        untouched = np.setdiff1d(np.arange(6), indices)
        np.testing.assert_array_equal(after[untouched], before[untouched])
        np.testing.assert_allclose(after, reference.w, rtol=1e-5, atol=1e-6)
    # row 1's moments stayed as step 1 left them (plain Adam would have decayed them and
    # moved row 1 again in step 2)
    index = optimizer._get_variable_index(table)
    np.testing.assert_allclose(optimizer._momentums[index].numpy(), reference.m, atol=1e-6)
    np.testing.assert_allclose(optimizer._velocities[index].numpy(), reference.v, atol=1e-7)
    assert np.abs(reference.m[1]).max() > 0 and (reference.m[[2, 3, 5]] == 0).all()


def test_plain_adam_would_move_rows_without_a_gradient():
    """The reason for LazyAdam: Keras' Adam moves row 1 in a step that has no gradient for it."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=(6, 3)).astype(np.float32)
    table = keras.Variable(start, name="table")
    plain = keras.optimizers.Adam(learning_rate=LR)
    plain.build([table])
    plain.apply([_sparse([1], rng.normal(size=(1, 3)))], [table])
    row_1 = np.array(table.numpy()[1])
    plain.apply([_sparse([4], rng.normal(size=(1, 3)))], [table])
    assert not np.array_equal(table.numpy()[1], row_1)


def test_dense_gradients_get_plain_adam():
    rng = np.random.default_rng(1)
    start = rng.normal(size=(4, 2)).astype(np.float32)
    lazy_var, plain_var = keras.Variable(start), keras.Variable(start)
    lazy, plain = LazyAdam(learning_rate=LR), keras.optimizers.Adam(learning_rate=LR)
    lazy.build([lazy_var])
    plain.build([plain_var])
    for _ in range(3):
        grad = tf.constant(rng.normal(size=(4, 2)), tf.float32)
        lazy.apply([grad], [lazy_var])
        plain.apply([grad], [plain_var])
    np.testing.assert_array_equal(lazy_var.numpy(), plain_var.numpy())
    assert not np.array_equal(lazy_var.numpy(), start)
