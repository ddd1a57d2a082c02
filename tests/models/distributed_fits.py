"""Fits under tf.distribute strategies, run in a fresh process by tests/models/test_devices.py.

``python -m tests.models.distributed_fits MODE [DIR]`` prints one JSON line (the last line of
stdout). A fresh process because the devices TensorFlow sees (two logical CPUs) and a
multi-worker strategy can only be set up before TensorFlow's runtime starts.

- ``mirrored-sequential``: the sequential network on one CPU (batch 64) and under
  ``MirroredStrategy`` over two logical CPUs (2 × 32, the same global batches);
- ``mirrored-two-tower DIR``: the two-tower network on one CPU and on two logical CPUs, the
  latter saved to and loaded back from ``DIR``;
- ``worker``: the sequential network under the strategy ``TF_CONFIG`` gives (one worker of a
  ``MultiWorkerMirroredStrategy`` cluster), with a validation callback.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

import numpy as np


def _split_cpu(n: int = 2) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )


def _mirrored():
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def _sequential_data():
    from shoprec.features.event_sequences import training_windows
    from shoprec.features.sequences import item_features
    from shoprec.training.sequential import code_weights
    from tests import tiny

    shop = tiny.make_shop()
    history = shop["holdout"].history
    items = item_features(shop["items"], history.item_ids)
    windows = training_windows(shop["holdout"].split.train, history.item_ids, 8)
    weights = code_weights({"view": 1.0, "addtocart": 3.0, "purchase": 5.0})
    return items, windows, weights


def _sequential_params(batch_size: int, dropout: bool = False):
    """Without dropout unless asked (so one device and two replicas see the same network)."""
    from shoprec.config import SequentialParams

    rates = {} if dropout else {"dropout": 0.0, "id_dropout": 0.0}
    return SequentialParams(
        embedding_dim=8, max_length=8, blocks=1, epochs=2, batch_size=batch_size, **rates
    )


def _report(history: dict) -> dict:
    keys = ("loss", "val", "strategy", "replicas", "workers", "batch_size")
    return {key: history.get(key) for key in keys}


def mirrored_sequential() -> dict:
    _split_cpu()
    from shoprec.models.sequential.model import SASRec

    items, windows, weights = _sequential_data()
    one = SASRec(_sequential_params(64))
    one_history = one.fit(items, windows, weights)
    with _mirrored().scope():
        two = SASRec(_sequential_params(32))
        two_history = two.fit(items, windows, weights)
    one_vectors, two_vectors = one.item_vectors(), two.item_vectors()
    return {
        "one": _report(one_history),
        "two": _report(two_history),
        "finite": bool(np.isfinite(two_vectors).all()),
        "cosine": float(
            np.mean(
                np.sum(one_vectors * two_vectors, axis=1)
                / (np.linalg.norm(one_vectors, axis=1) * np.linalg.norm(two_vectors, axis=1))
            )
        ),
    }


def _category_margin(model, items, trained) -> float:
    """The smallest gap between a fresh user's mean score in their category and in another."""
    from tests.models.two_tower.shop import CATEGORIES, category_of, fresh_users

    vectors = model.item_embeddings()
    cats = category_of(items)
    gaps = []
    for a in range(len(CATEGORIES)):
        scores = model.user_embeddings(fresh_users(items, trained, a)) @ vectors.T
        gaps += [
            scores[:, cats == a].mean() - scores[:, cats == b].mean()
            for b in range(len(CATEGORIES))
            if b != a
        ]
    return float(min(gaps))


def mirrored_two_tower(directory: str) -> dict:
    _split_cpu()
    from shoprec.models.two_tower import TwoTower
    from tests.models.two_tower.shop import fit, make_examples, make_items

    items = make_items()
    data = (items, *make_examples(items))
    trained = data[-1]
    one, one_history = fit(data)
    with _mirrored().scope():
        two, two_history = fit(data, batch_size=64)  # 2 × 64: the one-device global batch
        # the GPU code path (mixed_float16, loss scaling) with extra negatives, on 2 replicas
        mixed, mixed_history = fit(
            data, batch_size=64, epochs=2, mixed_precision=True, random_negatives=16
        )
    two.save(directory)
    loaded = TwoTower.load(directory)
    return {
        "one": _report(one_history),
        "two": _report(two_history),
        "one_margin": _category_margin(one, items, trained),
        "two_margin": _category_margin(two, items, trained),
        "mixed": _report(mixed_history),
        "mixed_finite": bool(np.isfinite(mixed.item_embeddings()).all()),
        "loaded_max_diff": float(
            max(
                np.abs(loaded.item_embeddings(items) - two.item_embeddings(items)).max(),
                np.abs(loaded.user_embeddings(data[1]) - two.user_embeddings(data[1])).max(),
            )
        ),
    }


def worker() -> dict:
    from shoprec.models import devices

    started = time.perf_counter()
    devices.training_strategy()  # before any other TensorFlow work
    from shoprec.models.sequential.model import SASRec

    items, windows, weights = _sequential_data()
    model = SASRec(_sequential_params(32, dropout=True))  # dropout: random draws in step
    history = model.fit(
        items, windows, weights, validate=lambda m: float(np.abs(m.item_vectors()).mean())
    )
    vectors = model.item_vectors()
    return {
        **_report(history),
        "vectors_sha256": hashlib.sha256(vectors.tobytes()).hexdigest(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "mirrored-sequential":
        result = mirrored_sequential()
    elif mode == "mirrored-two-tower":
        result = mirrored_two_tower(argv[1])
    elif mode == "worker":
        result = worker()
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
