"""Which ``tf.distribute`` strategy the TensorFlow models train under, and the helpers their
custom training steps use to share a global batch between replicas.

:func:`training_strategy` picks, in this order:

1. the strategy of an enclosing ``strategy.scope()``, when the caller opened one (any
   ``tf.distribute.Strategy``: tests and notebooks choose their own devices that way);
2. ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names a cluster of more than one worker
   (``chief`` + ``worker`` tasks): every worker runs the same training on the same data and
   the gradients are summed over all of them (collective all-reduce over gRPC);
3. ``MirroredStrategy`` over every local GPU when TensorFlow sees more than one;
4. else the default strategy (``tf.distribute.get_strategy()``): one device, the code path
   and the results of a one-device run are those of before strategies existed.

Strategies 2 and 3 are made once per process and reused (fit + refit, cross-validation
folds). ``MultiWorkerMirroredStrategy`` has to exist before TensorFlow's runtime starts, so it
must be the first TensorFlow thing a process does: the fits call :func:`training_strategy`
first; a process that ran TensorFlow before gets a :class:`RuntimeError` saying so.

A training step sees the *global* batch (``num_replicas_in_sync`` per-replica batches) on
every replica; :func:`replica_rows` cuts out the replica's own share and
:func:`global_share` turns the replica's weighted-mean loss into its share of the global
batch's weighted mean, so summing the replicas' gradients (what the Keras optimizers do under
a strategy) gives the gradient of the global batch's loss.

TensorFlow is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from shoprec.errors import ConfigError

log = logging.getLogger(__name__)

TF_CONFIG = "TF_CONFIG"
_WORKER_JOBS = ("chief", "worker")  # the tasks that train (an evaluator does not)


def tf_config_workers(environ: Mapping[str, str] | None = None) -> int:
    """How many training tasks (``chief`` + ``worker``) ``TF_CONFIG`` names; 0 without one.

    ``TF_CONFIG`` is the JSON TensorFlow's cluster resolver reads, e.g.
    ``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker",
    "index": 0}}``."""
    text = (os.environ if environ is None else environ).get(TF_CONFIG, "").strip()
    if not text:
        return 0
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{TF_CONFIG} is not JSON: {exc}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if cluster is None:
        return 0
    if not isinstance(cluster, dict):
        raise ConfigError(f"{TF_CONFIG}: 'cluster' must map job names to address lists")
    count = 0
    for job in _WORKER_JOBS:
        addresses = cluster.get(job, [])
        if not isinstance(addresses, list | dict):
            raise ConfigError(f"{TF_CONFIG}: cluster.{job} must be a list of host:port")
        count += len(addresses)
    if count > 1:
        task = config.get("task")
        if not isinstance(task, dict) or task.get("type") is None or task.get("index") is None:
            raise ConfigError(
                f"{TF_CONFIG}: a cluster of {count} workers needs this process's "
                '"task": {"type": "worker", "index": N}'
            )
    return count


def training_strategy():
    """The ``tf.distribute.Strategy`` to build and train the models under (see the module
    docstring for the order)."""
    import tensorflow as tf

    if tf.distribute.has_strategy():  # the caller's own strategy.scope()
        return tf.distribute.get_strategy()
    return _detected_strategy()


@functools.cache
def _detected_strategy():
    import tensorflow as tf

    workers = tf_config_workers()
    if workers > 1:
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            raise RuntimeError(
                f"{TF_CONFIG} names {workers} workers, but TensorFlow already ran in this "
                "process: MultiWorkerMirroredStrategy must be made before any other "
                f"TensorFlow work (call shoprec.models.devices.training_strategy() first): {exc}"
            ) from exc
        resolver = strategy.cluster_resolver
        log.info(
            "tf.distribute: MultiWorkerMirroredStrategy, %d workers, %d replicas in sync "
            "(this is %s %s)",
            workers,
            strategy.num_replicas_in_sync,
            resolver.task_type,
            resolver.task_id,
        )
        return strategy
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        log.info(
            "tf.distribute: MirroredStrategy over %d GPUs, %d replicas in sync",
            len(gpus),
            strategy.num_replicas_in_sync,
        )
        return strategy
    log.info("tf.distribute: default strategy, 1 replica (%s)", "GPU" if gpus else "CPU")
    return tf.distribute.get_strategy()


def describe(strategy) -> dict[str, Any]:
    """What a training report records: the strategy's name, replicas and workers."""
    import tensorflow as tf

    name = type(strategy).__name__.lstrip("_")
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        name = "MultiWorkerMirroredStrategy"  # the class is CollectiveAllReduceStrategy
    return {
        "strategy": name,
        "replicas": int(strategy.num_replicas_in_sync),
        "workers": worker_count(strategy),
    }


def worker_count(strategy) -> int:
    """How many processes train together under ``strategy`` (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return max(1, sum(len(cluster.get(job, [])) for job in _WORKER_JOBS))


# -- inside a replica's step (strategy.run) ----------------------------------------------------
def replica_rows(batch: Mapping[str, Any], replicas: int) -> dict[str, Any]:
    """The current replica's share of a global batch: rows ``[r * c, (r + 1) * c)`` of every
    tensor, ``c = ceil(rows / replicas)`` (the last replicas of a short last batch get fewer
    rows, possibly none: their loss and gradients are 0)."""
    import tensorflow as tf

    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    size = tf.shape(next(iter(batch.values())))[0]
    chunk = (size + replicas - 1) // replicas
    start = tf.minimum(tf.cast(replica, tf.int32) * chunk, size)
    stop = tf.minimum(start + chunk, size)
    return {key: value[start:stop] for key, value in batch.items()}


def global_share(loss, local_weight):
    """``loss * local_weight / global_weight``: a replica's weighted-mean ``loss`` over its
    rows (whose weights sum to ``local_weight``) as its part of the weighted mean over the
    whole global batch. The parts sum to the global loss, and so do their gradients."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, local_weight)
    return loss * (local_weight / tf.maximum(total, 1e-12))


def agree(strategy, value: float) -> float:
    """The mean of ``value`` over the workers of a multi-worker strategy (``value`` itself
    otherwise): every worker takes the same early-stopping decision even if its validation
    score differs in the last bit, so no worker waits for steps the others never run."""
    if worker_count(strategy) == 1:
        return value
    import tensorflow as tf

    def mean(local):
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, local)

    agreed = strategy.run(mean, args=(tf.constant(value, tf.float64),))
    return float(strategy.experimental_local_results(agreed)[0])


__all__ = [
    "TF_CONFIG",
    "agree",
    "describe",
    "global_share",
    "replica_rows",
    "tf_config_workers",
    "training_strategy",
    "worker_count",
]
