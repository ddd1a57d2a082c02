"""The sequential network and model: shapes, the causal mask, save → load, the SavedModel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from shoprec.features.event_sequences import EventSequences
from shoprec.models.base import METADATA_FILE

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def fitted(sequential_fit):
    return sequential_fit[0]


def _random_sequences(model, n: int, seed: int) -> EventSequences:
    rng = np.random.default_rng(seed)
    length = model.sequence_items.shape[1]
    items = rng.integers(0, model.history.shape[1], size=(n, length)).astype(np.int32)
    items[:, : length // 3] = -1  # left padding
    events = np.where(items >= 0, rng.integers(1, 4, size=items.shape), 0).astype(np.int8)
    return EventSequences(np.arange(n).astype(str), items, events)


def test_shapes_of_vectors_and_hidden_states(fitted):
    network = fitted._require_network()
    seqs = _random_sequences(fitted, 6, 0)
    hidden = network.network.encode(
        network.network.item_table(), seqs.items + 1, seqs.events.astype(np.int32)
    )
    assert tuple(hidden.shape) == (6, seqs.items.shape[1], network.params.embedding_dim)
    assert network.user_vectors(seqs).shape == (6, network.params.embedding_dim)
    assert fitted.item_embeddings.shape == (fitted.history.shape[1], network.params.embedding_dim)
    assert fitted.user_embeddings.shape[0] == fitted.history.shape[0]


def test_changing_a_later_item_never_changes_an_earlier_position(fitted):
    network = fitted._require_network().network
    table = network.item_table()
    seqs = _random_sequences(fitted, 4, 1)
    items, events = seqs.items + 1, seqs.events.astype(np.int32)
    before = np.asarray(network.encode(table, items, events))
    t = items.shape[1] - 3
    changed = items.copy()
    changed[:, t + 1 :] = (changed[:, t + 1 :] % fitted.history.shape[1]) + 1
    changed_events = events.copy()
    changed_events[:, t + 1 :] = 3 - changed_events[:, t + 1 :] % 3
    after = np.asarray(network.encode(table, changed, changed_events))
    np.testing.assert_allclose(after[:, : t + 1], before[:, : t + 1], atol=1e-6)
    assert not np.allclose(after[:, t + 1 :], before[:, t + 1 :])


def test_the_event_type_is_an_input(fitted):
    network = fitted._require_network()
    seqs = _random_sequences(fitted, 3, 2)
    other = EventSequences(seqs.user_ids, seqs.items, np.where(seqs.items >= 0, 1, 0))
    assert not np.allclose(network.user_vectors(seqs), network.user_vectors(other))


def test_save_and_load_give_the_same_top_k_and_no_pickle(fitted, tmp_path):
    from shoprec.training.model_table import load_model

    fitted.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert json.loads((tmp_path / "m" / METADATA_FILE).read_text())["model"] == "sequential"
    rows = np.arange(min(50, fitted.history.shape[0]))
    a = fitted.recommend_indices(rows, 10)
    b = loaded.recommend_indices(rows, 10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    seqs = _random_sequences(fitted, 5, 3)
    np.testing.assert_allclose(
        fitted.score_sequences(seqs), loaded.score_sequences(seqs), rtol=1e-5, atol=1e-5
    )
    with zipfile.ZipFile(tmp_path / "m" / "network" / "network.keras") as archive:
        assert not [n for n in archive.namelist() if n.endswith((".pkl", ".pickle"))]
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) >= {"user_embeddings", "item_embeddings", "sequence_items"}


def test_the_savedmodel_in_a_fresh_process_gives_the_same_top_k(fitted, tmp_path):
    from shoprec.models.sequential.export import export_savedmodel

    export_savedmodel(fitted, tmp_path / "sm" / "1", k=10)
    assert (tmp_path / "sm" / "1" / "saved_model.pb").is_file()
    rows = np.arange(5)
    item_ids = fitted.history.item_ids
    names = np.array(["", "view", "addtocart", "purchase"])
    seq_items = fitted.sequence_items[rows]
    ids = np.where(seq_items >= 0, item_ids[np.maximum(seq_items, 0)], "")
    kinds = names[fitted.sequence_events[rows]]
    script = f"""
import json, sys, numpy as np, tensorflow as tf
assert "shoprec" not in sys.modules
model = tf.saved_model.load({str(tmp_path / "sm" / "1")!r})
out = model.signatures["serving_default"](
    item_ids=tf.constant({ids.tolist()!r}), event_types=tf.constant({kinds.tolist()!r}))
print(json.dumps({{"ids": out["item_ids"].numpy().astype(str).tolist(),
                   "scores": out["scores"].numpy().tolist()}}))
assert not any(m.startswith("shoprec") for m in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    served = json.loads(done.stdout.strip().splitlines()[-1])
    seqs = EventSequences(rows.astype(str), seq_items, fitted.sequence_events[rows])
    scores = fitted.score_sequences(seqs)
    for r in range(len(rows)):
        seen = seq_items[r][seq_items[r] >= 0]
        scores[r, seen] = -np.inf
    expected = item_ids[np.argsort(-scores, axis=1, kind="stable")[:, :10]]
    assert [row[:5] for row in served["ids"]] == expected[:, :5].tolist()
    np.testing.assert_allclose(
        served["scores"], np.sort(scores, axis=1)[:, ::-1][:, :10], rtol=1e-4, atol=1e-4
    )


def test_the_same_seed_gives_the_same_model_on_the_cpu(tiny_shop):
    import tensorflow as tf

    from shoprec.config import SequentialParams
    from shoprec.features.event_sequences import training_windows
    from shoprec.features.sequences import item_features
    from shoprec.training.sequential import code_weights

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("bit-identical fits are promised on the CPU only")
    from shoprec.models.sequential.model import SASRec

    history = tiny_shop["holdout"].history
    train = tiny_shop["holdout"].split.train
    items = item_features(tiny_shop["items"], history.item_ids)
    windows = training_windows(train, history.item_ids, 8)
    weights = code_weights({"view": 1.0, "addtocart": 3.0, "purchase": 5.0})
    params = SequentialParams(embedding_dim=8, max_length=8, blocks=1, epochs=1, batch_size=64)
    vectors = []
    for _ in range(2):
        model = SASRec(params)
        model.fit(items, windows, weights)
        vectors.append(model.item_vectors())
    np.testing.assert_array_equal(vectors[0], vectors[1])
