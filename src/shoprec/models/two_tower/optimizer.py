"""Lazy Adam: Adam that updates only the embedding rows a batch touched."""

from __future__ import annotations

import keras
import tensorflow as tf


class LazyAdam(keras.optimizers.Adam):
    """Adam whose embedding tables (sparse gradients) update only the rows in the batch,
    moments included (like TF-Addons' LazyAdam); dense weights get plain Adam. Keras' Adam
    densifies sparse gradients: on a CPU that moves every row of the hashed user and title
    tables each step and costs about a third of the step. Training-only (never saved).

    For a sparse gradient, the rows ``r`` it names (duplicates summed into ``g_r``) get, at
    step ``t`` (1-based)::

        m_r <- beta_1 m_r + (1 - beta_1) g_r
        v_r <- beta_2 v_r + (1 - beta_2) g_r^2
        w_r <- w_r - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m_r / (sqrt(v_r) + epsilon)

    and every other row, with its moments, stays as it was.
    """

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
