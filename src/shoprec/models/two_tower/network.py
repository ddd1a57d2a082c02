"""The two-tower network: both towers, training, and embeddings out as NumPy arrays.

The item tower embeds a catalogue item from its id (trained items only; every other item
shares one out-of-vocabulary id bucket, so it is scored from its content), its top and full
category, brand, price bucket and title (hashed words and word bigrams, masked mean). The
user tower embeds a (user, moment) from the hashed user id, the user's last items (the item
tower's id and category embeddings, pooled with a learned attention query and a per-position
bias; ``-1`` pads) and already scaled behaviour features. Both end L2-normalised, so a score
is a cosine similarity.

Training minimises :func:`~shoprec.models.two_tower.loss.in_batch_softmax_loss` (in-batch
softmax, logQ correction, accidental hits masked, per-example weights, optionally extra
uniformly sampled negatives). ``id_dropout`` swaps that fraction of the positive item ids
for the OOV id and of the user ids for a "no id" bucket, so both content paths learn to stand
alone (the empty user id ``""`` always gets that bucket: anonymous or brand-new users). The
item tower is fed item *indices*: the per-item features are constant tables built once in
:meth:`TwoTower.fit`, so the ``tf.data`` pipeline carries no item data. Embedding tables are
updated lazily (only the rows in the batch; see :class:`~.optimizer.LazyAdam`).

Hyper-parameters come from :class:`shoprec.config.TwoTowerParams` (their one home); only the
title hash size and the precision switch, which are not settings of the pipeline, are
keywords here.

Runs on the GPU with mixed precision when TensorFlow sees one (batch size × 4), else on the
CPU in float32. ``fit`` seeds Python/NumPy/TensorFlow (``keras.utils.set_random_seed``) and,
on CPU, turns on TensorFlow op determinism for the whole process: the same seed gives
bit-identical embeddings on the same machine and versions.

Several GPUs or machines: the towers, the optimizer and the train step are made under
:func:`shoprec.models.devices.training_strategy` (``MirroredStrategy`` over the local GPUs,
``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``); the global batch is the per-replica batch
× the replicas, and every replica's in-batch negatives are its own examples. One device: the
default strategy and the code path of a one-device run, results unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shoprec.config import TwoTowerParams
from shoprec.features.tower_inputs import ItemFeatures, UserInputs
from shoprec.models import devices
from shoprec.models.two_tower import saving
from shoprec.models.two_tower.layers import (
    OOV_TOKEN,
    TITLE_MAX_TOKENS,
    AttentionPooling,
    CatalogueLookup,
    IndexClip,
    MaskedMean,
    TitleHashing,
    UserIdHashing,
)
from shoprec.models.two_tower.loss import in_batch_softmax_loss, popularity_log_q, uniform_log_q
from shoprec.models.two_tower.optimizer import LazyAdam

logger = logging.getLogger(__name__)

TITLE_HASH_BINS = 2**16  # title word/bigram hash buckets (bucket 0 pads)
_INFERENCE_BATCH = 8192
_ITEM_FEATURES = ("item_id", "top_category", "category", "brand", "price_bucket", "title")


@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Build layers under a global Keras dtype policy, then put the old one back."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _strings(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(str)


def _behaviour_matrix(values: np.ndarray | None, n: int) -> np.ndarray:
    """Behaviour features as float32 ``(n, n_behaviour)``; ``None`` or a 0-wide array means
    none."""
    if values is None:
        return np.zeros((n, 0), dtype=np.float32)
    matrix = np.asarray(values, dtype=np.float32)
    if matrix.ndim == 1 and matrix.size == n:
        matrix = matrix.reshape(n, 1)
    if matrix.ndim != 2 or len(matrix) != n:
        raise ValueError(f"two_tower: behaviour must be (n_users={n}, n_behaviour)")
    return matrix


def _vocabulary(values: np.ndarray) -> list[str]:
    """Sorted unique strings, without the OOV token (it maps to the OOV bucket anyway)."""
    return [v for v in np.unique(_strings(values)).tolist() if v != OOV_TOKEN]


class TwoTower:
    """Two-tower retrieval model: ``fit`` on NumPy arrays, embeddings out as NumPy arrays.

    ``params`` holds every hyper-parameter (``None``: the defaults of
    :class:`~shoprec.config.TwoTowerParams`; its ``early_stopping_k`` and ``refit`` belong to
    the fit recipe, :mod:`shoprec.training.two_tower`, and are not used here).
    ``mixed_precision``: ``None`` follows the device (on with a GPU), ``True``/``False``
    force it.
    """

    name = "two_tower"

    def __init__(
        self,
        params: TwoTowerParams | None = None,
        *,
        title_hash_bins: int = TITLE_HASH_BINS,
        mixed_precision: bool | None = None,
    ) -> None:
        if params is None:
            params = TwoTowerParams()
        if not isinstance(params, TwoTowerParams):
            raise TypeError(f"two_tower: params must be TwoTowerParams, not {type(params)}")
        if title_hash_bins < 2:
            raise ValueError("two_tower: title_hash_bins must be >= 2")
        self.params = params
        self.title_hash_bins = int(title_hash_bins)
        self.mixed_precision = None if mixed_precision is None else bool(mixed_precision)
        self.user_tower: keras.Model | None = None
        self.item_tower: keras.Model | None = None
        self.item_encoder: keras.Model | None = None
        self.catalogue: dict[str, np.ndarray] = {}
        self.n_behaviour = 0
        self.history_: dict[str, Any] = {}
        self._train_vars: list = []

    # -- building -----------------------------------------------------------------------
    def _build(
        self,
        n_items: int,
        vocab: dict[str, list[str]],
        n_behaviour: int,
    ) -> None:
        """Create the three Keras models. ``vocab``: trained item ids (catalogue order),
        top categories, categories, brands."""
        d = self.params.embedding_dim
        small = max(4, d // 2)
        layers = keras.layers
        # Shared by both towers: the user tower embeds history items with them.
        shared = {
            "item_id": layers.Embedding(len(vocab["item_id"]) + 1, d, name="item_id_embedding"),
            "top_category": layers.Embedding(
                len(vocab["top_category"]) + 1, small, name="top_category_embedding"
            ),
            "category": layers.Embedding(len(vocab["category"]) + 1, d, name="category_embedding"),
        }
        self._build_item_towers(vocab, shared)
        self._build_user_tower(n_items, n_behaviour, shared)
        self.n_behaviour = int(n_behaviour)

    def _build_item_towers(self, vocab: dict[str, list[str]], shared: dict) -> None:
        """``item_encoder`` (integer features → vector, what training runs on the tables) and
        ``item_tower`` (raw strings → lookups → ``item_encoder``, what is saved)."""
        p = self.params
        d = p.embedding_dim
        small, tiny = max(4, d // 2), max(4, d // 4)
        layers = keras.layers
        enc_in = {
            k: keras.Input((TITLE_MAX_TOKENS,) if k == "title" else (), dtype="int64", name=k)
            for k in _ITEM_FEATURES
        }
        title_emb = layers.Embedding(self.title_hash_bins, d, name="title_embedding")(
            enc_in["title"]
        )
        parts = [
            shared["item_id"](enc_in["item_id"]),
            shared["top_category"](enc_in["top_category"]),
            shared["category"](enc_in["category"]),
            layers.Embedding(len(vocab["brand"]) + 1, small, name="brand_embedding")(
                enc_in["brand"]
            ),
            layers.Embedding(p.n_price_buckets, tiny, name="price_embedding")(
                enc_in["price_bucket"]
            ),
            MaskedMean(name="title_mean")([title_emb, enc_in["title"]]),
        ]
        x = layers.Concatenate(name="item_features")(parts)
        x = layers.Dense(2 * d, activation="relu", name="item_hidden")(x)
        x = layers.Dense(d, dtype="float32", name="item_projection")(x)
        out = layers.UnitNormalization(dtype="float32", name="item_l2")(x)
        self.item_encoder = keras.Model(enc_in, out, name="item_encoder")

        raw = {
            k: keras.Input((), dtype="int32" if k == "price_bucket" else "string", name=k)
            for k in _ITEM_FEATURES
        }
        self._lookups = {
            key: layers.StringLookup(
                vocabulary=vocab[key], num_oov_indices=1, mask_token=None, name=f"{key}_lookup"
            )
            for key in ("item_id", "top_category", "category", "brand")
        }
        self._lookups["title"] = TitleHashing(self.title_hash_bins, name="title_hashing")
        encoded = {k: layer(raw[k]) for k, layer in self._lookups.items()}
        encoded["price_bucket"] = IndexClip(p.n_price_buckets, name="price_clip")(
            raw["price_bucket"]
        )
        self.item_tower = keras.Model(raw, self.item_encoder(encoded), name="item_tower")

    def _build_user_tower(self, n_items: int, n_behaviour: int, shared: dict) -> None:
        p = self.params
        d = p.embedding_dim
        layers = keras.layers
        user_in = {
            "user_id": keras.Input((), dtype="string", name="user_id"),
            "history": keras.Input((p.history_length,), dtype="int32", name="history"),
        }
        if n_behaviour:  # no behaviour input at all without features (a 0-wide matmul aborts)
            user_in["behaviour"] = keras.Input((n_behaviour,), dtype="float32", name="behaviour")
        user_hash = UserIdHashing(
            p.user_hash_bins, dropout=p.id_dropout, seed=p.seed, name="user_id_hashing"
        )(user_in["user_id"])
        user_emb = layers.Embedding(p.user_hash_bins + 1, d, name="user_id_embedding")(user_hash)
        history = user_in["history"]
        self._history_tables = {
            key: CatalogueLookup(n_items, name=f"history_{key}")
            for key in ("item_id", "top_category", "category")
        }
        hist = layers.Concatenate(name="history_features")(
            [shared[key](table(history)) for key, table in self._history_tables.items()]
        )
        hist = layers.Dense(d, activation="relu", name="history_hidden")(hist)
        pooled = AttentionPooling(d, name="history_attention")([hist, history])
        parts = [user_emb, pooled]
        if n_behaviour:
            parts.append(
                layers.Dense(max(4, d // 2), activation="relu", name="behaviour_hidden")(
                    user_in["behaviour"]
                )
            )
        x = layers.Concatenate(name="user_features")(parts)
        x = layers.Dense(2 * d, activation="relu", name="user_hidden")(x)
        x = layers.Dense(d, dtype="float32", name="user_projection")(x)
        out = layers.UnitNormalization(dtype="float32", name="user_l2")(x)
        self.user_tower = keras.Model(user_in, out, name="user_tower")

    def _require_fitted(self) -> None:
        if self.user_tower is None or self.item_tower is None or self.item_encoder is None:
            raise RuntimeError("two_tower: fit or load the model first")

    # -- input checks -------------------------------------------------------------------
    def _check_items(self, items: ItemFeatures) -> None:
        n = len(items.item_ids)
        for field in ("category", "top_category", "brand", "price_bucket", "title"):
            if len(getattr(items, field)) != n:
                raise ValueError(
                    f"two_tower: items.{field} has {len(getattr(items, field))} "
                    f"rows, items.item_ids has {n}"
                )
        price = np.asarray(items.price_bucket)
        n_buckets = self.params.n_price_buckets
        if n and (price.min() < 0 or price.max() >= n_buckets):
            raise ValueError(f"two_tower: price_bucket outside [0, {n_buckets})")

    def _user_arrays(self, users: UserInputs, n_items: int) -> dict[str, np.ndarray]:
        n = len(users.user_ids)
        length = self.params.history_length
        history = np.asarray(users.history)
        if history.ndim != 2 or len(history) != n:
            raise ValueError(f"two_tower: history must be (n_users={n}, history_length)")
        history = history[:, :length].astype(np.int32)  # most recent first: keep the start
        if history.shape[1] < length:
            pad = np.full((n, length - history.shape[1]), -1, dtype=np.int32)
            history = np.concatenate([history, pad], axis=1)
        if history.size and history.max() >= n_items:
            raise ValueError(f"two_tower: history holds item index >= n_items ({n_items})")
        history = np.where(history < 0, -1, history).astype(np.int32)
        behaviour = _behaviour_matrix(users.behaviour, n)
        if behaviour.shape[1] != self.n_behaviour:
            raise ValueError(
                f"two_tower: behaviour has {behaviour.shape[1]} columns, "
                f"the model was trained with {self.n_behaviour}"
            )
        if not np.isfinite(behaviour).all():
            raise ValueError("two_tower: behaviour features must be finite")
        arrays = {"user_id": _strings(users.user_ids), "history": history}
        if self.n_behaviour:
            arrays["behaviour"] = behaviour
        return arrays

    @staticmethod
    def _raw_items(items: ItemFeatures) -> dict[str, np.ndarray]:
        return {
            "item_id": _strings(items.item_ids),
            "top_category": _strings(items.top_category),
            "category": _strings(items.category),
            "brand": _strings(items.brand),
            "price_bucket": np.asarray(items.price_bucket, dtype=np.int32),
            "title": _strings(items.title),
        }

    def _encode_items(self, items: ItemFeatures) -> dict[str, np.ndarray]:
        """The integer feature tables of a catalogue (what the item encoder eats)."""
        raw = self._raw_items(items)
        tables = {
            key: layer(tf.constant(raw[key])).numpy().astype(np.int32)
            for key, layer in self._lookups.items()
        }
        tables["price_bucket"] = raw["price_bucket"]
        return tables

    def _check_training_inputs(
        self,
        items: ItemFeatures,
        n: int,
        train_items: np.ndarray,
        train_weights: np.ndarray,
        trained_item_mask: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self._check_items(items)
        n_items = len(items.item_ids)
        item_ids = _strings(items.item_ids)
        if n_items == 0 or len(np.unique(item_ids)) != n_items:
            raise ValueError("two_tower: items.item_ids must be non-empty and unique")
        mask = np.asarray(trained_item_mask, dtype=bool)
        if mask.shape != (n_items,):
            raise ValueError(f"two_tower: trained_item_mask must have shape ({n_items},)")
        if not mask.any():
            raise ValueError("two_tower: trained_item_mask marks no item as trained")
        positives = np.asarray(train_items).astype(np.int64)
        weights = np.asarray(train_weights, dtype=np.float32)
        if n == 0 or positives.shape != (n,) or weights.shape != (n,):
            raise ValueError("two_tower: train_items and train_weights need one entry per example")
        if positives.min() < 0 or positives.max() >= n_items:
            raise ValueError(f"two_tower: train_items outside [0, {n_items})")
        if not np.isfinite(weights).all() or weights.min() < 0 or weights.sum() <= 0:
            raise ValueError("two_tower: train_weights must be finite, >= 0, not all zero")
        return item_ids, mask, positives, weights

    # -- training -----------------------------------------------------------------------
    def fit(
        self,
        items: ItemFeatures,
        train_users: UserInputs,
        train_items: np.ndarray,
        train_weights: np.ndarray,
        trained_item_mask: np.ndarray,
        validate: Callable[[TwoTower], float] | None = None,
    ) -> dict[str, Any]:
        """Train on examples (user row ``i`` bought/viewed catalogue item ``train_items[i]``).

        ``validate(self)`` runs after each epoch and returns a score to maximise; training
        stops after ``patience`` epochs without improvement and the best epoch's weights come
        back. Returns ``loss`` and ``val`` per epoch, ``best_epoch`` (0-based index into
        them), ``examples_per_second``, ``device``, ``mixed_precision``, ``batch_size`` (the
        global batch: per replica × replicas), ``strategy``, ``replicas``, ``workers``.

        Builds and trains under :func:`shoprec.models.devices.training_strategy`; with more
        than one replica each replica gets ``batch_size`` (× 4 on a GPU) examples of every
        global batch, and its in-batch negatives are those examples.
        """
        strategy = devices.training_strategy()  # first: a multi-worker one needs a fresh TF
        replicas = strategy.num_replicas_in_sync
        p = self.params
        n_items, n = len(items.item_ids), len(train_users.user_ids)
        item_ids, mask, positives, weights = self._check_training_inputs(
            items, n, train_items, train_weights, trained_item_mask
        )

        gpu = bool(tf.config.list_physical_devices("GPU"))
        mixed = gpu if self.mixed_precision is None else self.mixed_precision
        keras.utils.set_random_seed(p.seed)
        if not gpu:
            # Bit-identical CPU runs. Not on GPU: there it would fail (embedding gradients
            # go through unsorted_segment_sum) or fall back to slow host scatter ops.
            tf.config.experimental.enable_op_determinism()
        batch_size = p.batch_size * (4 if gpu else 1) * replicas

        self.n_behaviour = _behaviour_matrix(train_users.behaviour, n).shape[1]
        users = self._user_arrays(train_users, n_items)
        vocab = {
            "item_id": item_ids[mask].tolist(),
            "top_category": _vocabulary(items.top_category),
            "category": _vocabulary(items.category),
            "brand": _vocabulary(items.brand),
        }
        with strategy.scope(), _dtype_policy("mixed_float16" if mixed else "float32"):
            self._build(n_items, vocab, self.n_behaviour)
        tables = self._encode_items(items)
        for key, layer in self._history_tables.items():
            layer.table.assign(np.concatenate([[0], tables[key]]).astype(np.int32))
        self.catalogue = {
            "item_ids": item_ids,
            "trained_item_mask": mask,
            **tables,
            **{f"vocab_{key}": np.asarray(values, dtype=str) for key, values in vocab.items()},
        }

        log_q = popularity_log_q(positives, n_items)
        with strategy.scope():
            train_step = self._make_train_step(tables, log_q, mixed, strategy)

        # Shuffle and batch example *indices*, then gather whole batches: 4x faster than
        # shuffling element dicts, and the shuffle buffer holds ints, not copies of the data.
        examples = {
            k: tf.constant(v) for k, v in {**users, "item": positives, "weight": weights}.items()
        }
        dataset = (
            tf.data.Dataset.from_tensor_slices(np.arange(n, dtype=np.int64))
            .shuffle(n, seed=p.seed, reshuffle_each_iteration=True)
            .batch(batch_size, drop_remainder=False)
            .map(lambda rows: {k: tf.gather(v, rows) for k, v in examples.items()})
            .prefetch(tf.data.AUTOTUNE)
        )

        history: dict[str, Any] = {"loss": [], "val": []}
        best_score, best_epoch, waited = -math.inf, 0, 0
        best_weights: list[np.ndarray] | None = None
        train_seconds, step = 0.0, 0
        device = "GPU" if gpu else "CPU"
        for epoch in range(p.epochs):
            start = time.perf_counter()
            losses = []
            for batch in dataset:
                losses.append(train_step(batch, tf.constant(step, tf.int64)))
                step += 1
            epoch_loss = float(np.mean([float(x) for x in losses]))
            seconds = time.perf_counter() - start
            train_seconds += seconds
            history["loss"].append(epoch_loss)
            score = None
            if validate is not None:
                score = devices.agree(strategy, float(validate(self)))
                history["val"].append(score)
                if score > best_score:  # NaN never improves
                    best_score, best_epoch, waited = score, epoch, 0
                    best_weights = [v.numpy() for v in self._train_vars]
                else:
                    waited += 1
            else:
                best_epoch = epoch
            logger.info(
                "two_tower epoch %d/%d: loss %.4f, val %s, %.0f examples/s (%s%s%s)",
                epoch + 1,
                p.epochs,
                epoch_loss,
                "-" if score is None else f"{score:.4f}",
                n / seconds,
                device,
                ", mixed_float16" if mixed else "",
                f", {replicas} replicas" if replicas > 1 else "",
            )
            if validate is not None and waited >= max(p.patience, 1):
                logger.info(
                    "two_tower: no improvement for %d epoch(s); best epoch %d",
                    waited,
                    best_epoch + 1,
                )
                break
        if best_weights is not None:
            for variable, value in zip(self._train_vars, best_weights, strict=True):
                variable.assign(value)
        epochs_run = len(history["loss"])
        history.update(
            best_epoch=int(best_epoch),
            examples_per_second=float(n * epochs_run / max(train_seconds, 1e-9)),
            device=device,
            mixed_precision=bool(mixed),
            batch_size=int(batch_size),
            **devices.describe(strategy),
        )
        self.history_ = history
        return history

    def _make_train_step(
        self,
        tables: dict[str, np.ndarray],
        log_q: np.ndarray,
        mixed: bool,
        strategy: Any,
    ) -> Callable:
        """The compiled step ``(global batch, step) -> loss``. One replica: the plain step.
        More: every replica runs it on its rows of the batch (:func:`devices.replica_rows`)
        with its share of the global loss, the gradients are summed over the replicas and the
        replicas' shares of the loss too. Make it under ``strategy.scope()``."""
        p = self.params
        replicas = strategy.num_replicas_in_sync
        n_items = len(log_q)
        const = {k: tf.constant(v, dtype=tf.int64) for k, v in tables.items()}
        log_q_t = tf.constant(log_q)
        seen: dict[int, Any] = {}
        for v in self.user_tower.trainable_variables + self.item_encoder.trainable_variables:
            seen.setdefault(id(v), v)
        variables = list(seen.values())
        self._train_vars = variables
        optimizer = LazyAdam(learning_rate=p.learning_rate, name="lazy_adam")
        if mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(variables)
        user_tower, item_encoder = self.user_tower, self.item_encoder
        temperature = p.temperature
        id_dropout, n_random = p.id_dropout, p.random_negatives
        seed = tf.constant(p.seed, tf.int64)
        random_log_q = uniform_log_q(n_items)
        length = p.history_length

        signature = {
            "user_id": tf.TensorSpec([None], tf.string),
            "history": tf.TensorSpec([None, length], tf.int32),
            "item": tf.TensorSpec([None], tf.int64),
            "weight": tf.TensorSpec([None], tf.float32),
        }
        user_keys = ["user_id", "history"]
        if self.n_behaviour:
            signature["behaviour"] = tf.TensorSpec([None, self.n_behaviour], tf.float32)
            user_keys.append("behaviour")

        def replica_step(batch, step):
            if replicas > 1:  # one stream of random draws per replica
                replica = tf.distribute.get_replica_context().replica_id_in_sync_group
                step = step * replicas + tf.cast(replica, tf.int64)
            positives = batch["item"]
            features = {k: tf.gather(t, positives) for k, t in const.items()}
            if id_dropout > 0:
                drop = tf.random.stateless_uniform(tf.shape(positives), seed=[seed, step])
                features["item_id"] = tf.where(
                    drop < id_dropout, tf.zeros_like(positives), features["item_id"]
                )
            user_in = {k: batch[k] for k in user_keys}
            with tf.GradientTape() as tape:
                u = tf.cast(user_tower(user_in, training=True), tf.float32)
                v = tf.cast(item_encoder(features, training=True), tf.float32)
                negatives = vn = None
                if n_random > 0:
                    negatives = tf.random.stateless_uniform(
                        [n_random],
                        seed=[seed + 1, step],
                        minval=0,
                        maxval=n_items,
                        dtype=tf.int64,
                    )
                    neg_features = {k: tf.gather(t, negatives) for k, t in const.items()}
                    vn = tf.cast(item_encoder(neg_features, training=True), tf.float32)
                loss = in_batch_softmax_loss(
                    u,
                    v,
                    positives,
                    batch["weight"],
                    log_q_t,
                    temperature,
                    negative_vectors=vn,
                    negative_indices=negatives,
                    negative_log_q=random_log_q,
                )
                if replicas > 1:
                    loss = devices.global_share(loss, tf.reduce_sum(batch["weight"]))
                scaled = optimizer.scale_loss(loss) if mixed else loss
            grads = tape.gradient(scaled, variables)
            optimizer.apply(grads, variables)
            return loss

        step_signature = [signature, tf.TensorSpec([], tf.int64)]
        if replicas == 1:
            return tf.function(replica_step, input_signature=step_signature)

        @tf.function(input_signature=step_signature)
        def train_step(batch, step):
            shares = strategy.run(
                lambda b, s: replica_step(devices.replica_rows(b, replicas), s),
                args=(batch, step),
            )
            return strategy.reduce(tf.distribute.ReduceOp.SUM, shares, axis=None)

        return train_step

    # -- embeddings ---------------------------------------------------------------------
    def _batched(
        self, model: keras.Model, arrays: dict[str, np.ndarray], dtypes: dict
    ) -> np.ndarray:
        """Run a tower eagerly, batch by batch. (Eager on purpose: a tf.function per model
        would be retraced for every refit in a process, e.g. rolling-origin folds.)"""
        n = len(next(iter(arrays.values())))
        out = np.empty((n, self.params.embedding_dim), dtype=np.float32)
        for start in range(0, n, _INFERENCE_BATCH):
            batch = {
                k: tf.constant(v[start : start + _INFERENCE_BATCH], dtype=dtypes[k])
                for k, v in arrays.items()
            }
            out[start : start + _INFERENCE_BATCH] = np.asarray(model(batch, training=False))
        return out

    def user_embeddings(self, users: UserInputs) -> np.ndarray:
        """L2-normalised user vectors ``(n, embedding_dim)`` float32."""
        self._require_fitted()
        if len(users.user_ids) == 0:
            return np.zeros((0, self.params.embedding_dim), dtype=np.float32)
        arrays = self._user_arrays(users, len(self.catalogue["item_ids"]))
        dtypes = {"user_id": tf.string, "history": tf.int32, "behaviour": tf.float32}
        return self._batched(self.user_tower, arrays, dtypes)

    def item_embeddings(self, items: ItemFeatures | None = None) -> np.ndarray:
        """L2-normalised vectors ``(n_items, embedding_dim)`` float32 of the training
        catalogue (``items=None``) or of any other item table: items not trained on (unknown
        id) share the out-of-vocabulary id bucket and are placed by their content."""
        self._require_fitted()
        if items is None:
            arrays = {k: self.catalogue[k] for k in _ITEM_FEATURES}
            return self._batched(self.item_encoder, arrays, dict.fromkeys(_ITEM_FEATURES, tf.int64))
        self._check_items(items)
        dtypes = {k: tf.int32 if k == "price_bucket" else tf.string for k in _ITEM_FEATURES}
        return self._batched(self.item_tower, self._raw_items(items), dtypes)

    # -- persistence (shoprec.models.two_tower.saving) ----------------------------------
    def save(self, directory: str | Path, export_savedmodel: bool = True) -> Path:
        """Write the towers, the catalogue and the metadata (see :func:`saving.save`)."""
        self._require_fitted()
        return saving.save(self, directory, export_savedmodel=export_savedmodel)

    @classmethod
    def load(cls, directory: str | Path) -> TwoTower:
        """Inverse of :meth:`save` (see :func:`saving.load`)."""
        return saving.load(cls, directory)
