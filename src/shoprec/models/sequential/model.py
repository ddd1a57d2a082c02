"""Fitting the sequential network, and its vectors out as NumPy arrays.

``SASRec.fit`` trains next-item prediction at every position of every training window with a
softmax cross-entropy over the whole catalogue, or, above ``full_softmax_max_items``, a
sampled softmax (:mod:`.loss`). After each epoch a callback scores the validation users with
the project's own metrics; the best epoch's weights are kept, and training stops after
``patience`` epochs without improvement.

A user's vector is the network's last hidden state over their sequence; an item's vector is
its row of the item table; a score is their dot product, so ranking needs only NumPy.

On a GPU it runs in mixed precision with 4× the batch; on a CPU in float32 with TensorFlow op
determinism, so the same seed gives the same model on the same machine.

The network, the optimizer and the train step are made under
:func:`shoprec.models.devices.training_strategy`: with several replicas (GPUs, or workers
named by ``TF_CONFIG``) a global batch holds ``batch_size`` windows per replica, each replica
trains on its share and the gradients are summed into those of the global batch's weighted
loss (with the full softmax, the loss one device computes on that batch). The updates are
close to one device's, not equal: Keras' Adam squares a sparse gradient's slices one by one,
and the replicas' slices of an embedding row arrive as separate slices. One device: the
default strategy, the code path and the results of a one-device run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shoprec.config import SequentialParams
from shoprec.features.event_sequences import EventSequences
from shoprec.features.tower_inputs import ItemFeatures
from shoprec.models import devices
from shoprec.models.sequential.loss import full_softmax_loss, sampled_softmax_loss
from shoprec.models.sequential.network import SequenceNetwork

logger = logging.getLogger(__name__)

TITLE_TOKENS = 16
CONTENT_FIELDS = ("category", "top_category", "brand", "price_bucket")
INFERENCE_BATCH = 4096
NETWORK_FILE = "network.keras"


@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def title_tokens(titles: np.ndarray, bins: int, tokens: int = TITLE_TOKENS) -> np.ndarray:
    """Hashed lower-case words of each title ``(n, tokens)`` int32 in ``[1, bins)``, 0 pads
    (CRC-32: the same on every machine and Python run)."""
    out = np.zeros((len(titles), tokens), dtype=np.int32)
    for row, title in enumerate(titles):
        words = str(title).lower().split()[:tokens]
        out[row, : len(words)] = [1 + zlib.crc32(w.encode()) % (bins - 1) for w in words]
    return out


def content_codes(items: ItemFeatures) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Integer codes of each categorical content field, and each field's vocabulary size."""
    codes, sizes = {}, {}
    for key in CONTENT_FIELDS:
        values = np.asarray(getattr(items, key))
        if key == "price_bucket":
            codes[key] = values.astype(np.int32)
            sizes[key] = int(values.max()) + 1 if len(values) else 1
        else:
            inverse = np.unique(values.astype(str), return_inverse=True)[1]
            codes[key] = inverse.astype(np.int32)
            sizes[key] = int(inverse.max()) + 1 if len(inverse) else 1
    return codes, sizes


def target_weights(
    windows: EventSequences, event_weights: np.ndarray, skip_repeats: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (items + 1, events), targets and per-position weights of training windows.

    A position counts when it has an input and a target; its weight is the target event's
    weight (``event_weights[code]``). With ``skip_repeats``, a target the window already
    showed at or before that position gets weight 0: evaluation never ranks seen items.
    """
    items, codes = windows.items, windows.events
    inputs, targets = items[:, :-1], items[:, 1:]
    weight = event_weights[codes[:, 1:]].astype(np.float32)
    weight *= (inputs >= 0) & (targets >= 0)
    if skip_repeats:
        length = inputs.shape[1]
        earlier = np.tril(np.ones((length, length), dtype=bool))  # [t, s]: s <= t
        repeat = np.zeros_like(targets, dtype=bool)
        for start in range(0, len(items), 4096):
            seq = inputs[start : start + 4096]
            tgt = targets[start : start + 4096]
            same = (tgt[:, :, None] == seq[:, None, :]) & earlier[None] & (seq[:, None, :] >= 0)
            repeat[start : start + 4096] = same.any(axis=2)
        weight[repeat] = 0.0
    return (inputs + 1).astype(np.int32), codes[:, :-1].astype(np.int32), targets, weight


class SASRec:
    """The sequential model: ``fit`` on windows, then ``user_vectors`` / ``item_vectors``."""

    def __init__(self, params: SequentialParams, mixed_precision: bool | None = None) -> None:
        self.params = params
        self.mixed_precision = mixed_precision
        self.network: SequenceNetwork | None = None
        self.history_: dict[str, Any] = {}

    # -- building -----------------------------------------------------------------------
    def build(
        self, items: ItemFeatures, trained: np.ndarray, mixed: bool = False, strategy=None
    ) -> None:
        """Make the network (under ``strategy.scope()`` when one is given)."""
        p = self.params
        codes, sizes = content_codes(items)
        n_items = len(items)
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope, _dtype_policy("mixed_float16" if mixed else "float32"):
            network = SequenceNetwork(
                n_items=n_items,
                vocabulary_sizes=sizes,
                title_tokens=TITLE_TOKENS,
                title_bins=p.title_hash_bins,
                length=p.max_length,
                dim=p.embedding_dim,
                blocks=p.blocks,
                heads=p.heads,
                dropout=p.dropout,
                id_dropout=p.id_dropout,
                seed=p.seed,
            )
            network.build_all()
        id_code = np.where(trained, np.arange(n_items), n_items).astype(np.int32)
        network.set_item_tables(id_code, codes, title_tokens(items.title, p.title_hash_bins))
        self.network = network

    # -- training -----------------------------------------------------------------------
    def fit(
        self,
        items: ItemFeatures,
        windows: EventSequences,
        event_weights: np.ndarray,
        skip_repeats: bool = True,
        validate: Callable[[SASRec], float] | None = None,
        epochs: int | None = None,
    ) -> dict[str, Any]:
        """Train on ``windows``; ``event_weights`` maps event codes to target weights.
        ``validate(model)`` → a score (higher is better) for early stopping."""
        strategy = devices.training_strategy()  # first: a multi-worker one needs a fresh TF
        replicas = strategy.num_replicas_in_sync
        p = self.params
        gpu = bool(tf.config.list_physical_devices("GPU"))
        mixed = gpu if self.mixed_precision is None else self.mixed_precision
        keras.utils.set_random_seed(p.seed)
        if not gpu:
            tf.config.experimental.enable_op_determinism()
        batch_size = p.batch_size * (4 if gpu else 1) * replicas
        inputs, events, targets, weights = target_weights(windows, event_weights, skip_repeats)
        useful = weights.sum(axis=1) > 0
        inputs, events, targets, weights = (a[useful] for a in (inputs, events, targets, weights))
        trained = np.zeros(len(items), dtype=bool)
        trained[targets[weights > 0]] = True
        trained[inputs[inputs > 0] - 1] = True
        self.build(items, trained, mixed, strategy)
        n = len(inputs)
        if n == 0:
            raise ValueError("sequential: no training window has a position to learn from")
        counts = np.bincount(targets[weights > 0], minlength=len(items)).astype(np.float64)
        log_q = np.log(np.maximum(counts, 1.0) / counts.sum()).astype(np.float32)
        with strategy.scope():
            step_fn, variables = self._train_step(len(items), log_q, mixed, strategy)

        order_rng = np.random.default_rng(p.seed)
        positions = float((weights > 0).sum())
        history: dict[str, Any] = {"loss": [], "val": []}
        best, best_epoch, waited, best_weights = -math.inf, 0, 0, None
        seconds, device = 0.0, "GPU" if gpu else "CPU"
        for epoch in range(epochs or p.epochs):
            started = time.perf_counter()
            losses = []
            batches = _length_buckets(inputs, batch_size, order_rng)
            for rows in (batches[b] for b in order_rng.permutation(len(batches))):
                width = int(max(1, (inputs[rows] > 0).sum(axis=1).max()))
                cut = slice(inputs.shape[1] - width, None)
                losses.append(
                    float(
                        step_fn(
                            tf.constant(inputs[rows, cut]),
                            tf.constant(events[rows, cut]),
                            tf.constant(np.maximum(targets[rows, cut], 0).astype(np.int32)),
                            tf.constant(weights[rows, cut]),
                        )
                    )
                )
            took = time.perf_counter() - started
            seconds += took
            history["loss"].append(float(np.mean(losses)))
            score = None
            if validate is not None:
                score = devices.agree(strategy, float(validate(self)))
                history["val"].append(score)
                if score > best:
                    best, best_epoch, waited = score, epoch, 0
                    best_weights = [v.numpy() for v in variables]
                else:
                    waited += 1
            else:
                best_epoch = epoch
            logger.info(
                "sequential epoch %d: loss %.4f, val %s, %.0f positions/s (%s%s%s)",
                epoch + 1,
                history["loss"][-1],
                "-" if score is None else f"{score:.4f}",
                positions / took,
                device,
                ", mixed_float16" if mixed else "",
                f", {replicas} replicas" if replicas > 1 else "",
            )
            if validate is not None and waited >= p.patience:
                break
        if best_weights is not None:
            for variable, value in zip(variables, best_weights, strict=True):
                variable.assign(value)
        epochs_run = len(history["loss"])
        history.update(
            best_epoch=int(best_epoch),
            epochs_run=epochs_run,
            windows=int(n),
            positions=int(positions),
            positions_per_second=positions * epochs_run / max(seconds, 1e-9),
            training_seconds=round(seconds, 2),
            device=device,
            mixed_precision=bool(mixed),
            batch_size=int(batch_size),
            loss_kind="full" if len(items) <= p.full_softmax_max_items else "sampled",
            **devices.describe(strategy),
        )
        self.history_ = history
        return history

    def _train_step(self, n_items: int, log_q: np.ndarray, mixed: bool, strategy=None):
        """The compiled step ``(items, events, targets, weights) -> loss`` on a global batch
        and its trained variables; with several replicas each runs on its rows
        (:func:`devices.replica_rows`) with its share of the global loss. Make it under
        ``strategy.scope()``."""
        p, network = self.params, self.network
        replicas = 1 if strategy is None else strategy.num_replicas_in_sync
        variables = list(network.trainable_variables)
        optimizer = keras.optimizers.Adam(learning_rate=p.learning_rate)
        if mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(variables)
        full = n_items <= p.full_softmax_max_items
        log_q_t = tf.constant(log_q)
        n_negatives = p.sampled_negatives
        spec = [tf.TensorSpec([None, None], tf.int32)] * 3 + [
            tf.TensorSpec([None, None], tf.float32)
        ]

        def replica_step(items, events, targets, weights):
            keep = weights > 0
            with tf.GradientTape() as tape:
                table = network.item_table(training=True)
                hidden = network.encode(table, items, events, training=True)
                h = tf.cast(tf.boolean_mask(hidden, keep), tf.float32)
                t = tf.boolean_mask(targets, keep)
                w = tf.boolean_mask(weights, keep)
                table32 = tf.cast(table, tf.float32)
                if full:
                    loss = full_softmax_loss(h, table32, t, w)
                else:
                    negatives = tf.random.categorical(log_q_t[None, :], n_negatives)[0]
                    loss = sampled_softmax_loss(h, table32, t, w, negatives, log_q_t)
                if replicas > 1:
                    loss = devices.global_share(loss, tf.reduce_sum(w))
                scaled = optimizer.scale_loss(loss) if mixed else loss
            grads = tape.gradient(scaled, variables)
            optimizer.apply(grads, variables)
            return loss

        if replicas == 1:
            return tf.function(replica_step, input_signature=spec), variables

        def on_own_rows(*batch):
            rows = devices.replica_rows(dict(enumerate(batch)), replicas)
            return replica_step(*(rows[i] for i in range(len(batch))))

        @tf.function(input_signature=spec)
        def step(items, events, targets, weights):
            shares = strategy.run(on_own_rows, args=(items, events, targets, weights))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, shares, axis=None)

        return step, variables

    # -- vectors ------------------------------------------------------------------------
    def _require(self) -> SequenceNetwork:
        if self.network is None:
            raise RuntimeError("sequential: fit or load the model first")
        return self.network

    def item_vectors(self) -> np.ndarray:
        """``(n_items, dim)`` float32: the item table (ids as trained, no dropout)."""
        return np.asarray(self._require().item_table(training=False), dtype=np.float32)

    def user_vectors(self, sequences: EventSequences) -> np.ndarray:
        """``(n, dim)`` float32: the last hidden state over each sequence (zeros for empty)."""
        network = self._require()
        table = network.item_table(training=False)
        length = self.params.max_length
        items = _fit_length(sequences.items, length) + 1
        events = _fit_length(sequences.events.astype(np.int32), length, pad=0)
        out = np.zeros((len(items), network.dim), dtype=np.float32)
        for start in range(0, len(items), INFERENCE_BATCH):
            hidden = network.encode(
                table,
                tf.constant(items[start : start + INFERENCE_BATCH].astype(np.int32)),
                tf.constant(events[start : start + INFERENCE_BATCH]),
                training=False,
            )
            out[start : start + INFERENCE_BATCH] = np.asarray(hidden[:, -1, :], dtype=np.float32)
        return out

    # -- files --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """``network.keras`` (Keras native, loads with ``safe_mode=True``)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._require().save(directory / NETWORK_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path, params: SequentialParams) -> SASRec:
        model = cls(params)
        model.network = keras.saving.load_model(
            Path(directory) / NETWORK_FILE, safe_mode=True, compile=False
        )
        return model


def _length_buckets(
    inputs: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Batches of windows of similar length, so a batch is cut to its longest window and no
    time goes into padding (windows of one length are shuffled among themselves)."""
    lengths = (inputs > 0).sum(axis=1)
    order = rng.permutation(len(inputs))
    order = order[np.argsort(lengths[order], kind="stable")]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _fit_length(values: np.ndarray, length: int, pad: int = -1) -> np.ndarray:
    """Right-aligned sequences cut or left-padded to ``length`` columns."""
    width = values.shape[1]
    if width >= length:
        return values[:, width - length :]
    return np.pad(values, ((0, 0), (length - width, 0)), constant_values=pad)
