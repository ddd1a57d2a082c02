"""The two-tower's custom Keras layers, checked against hand-worked values and NumPy."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from shoprec.models.two_tower.layers import (
    AttentionPooling,
    CatalogueLookup,
    IndexClip,
    MaskedMean,
    TitleHashing,
    UserIdHashing,
)


def _hash(strings: list[str], bins: int) -> np.ndarray:
    return tf.strings.to_hash_bucket_fast(strings, bins).numpy()


# -- hashing -------------------------------------------------------------------------------
def test_title_hashing_words_then_bigrams_case_and_punctuation_free():
    layer = TitleHashing(1024, max_tokens=6)
    ids = layer(tf.constant(["Red Shoe!", "red  shoe", "", "!!!"])).numpy()
    assert ids.shape == (4, 6) and ids.dtype == np.int64
    # "red", "shoe", then the bigram "red shoe", hashed into [1, 1024); 0 pads
    expected = np.concatenate([_hash(["red", "shoe", "red shoe"], 1023) + 1, [0, 0, 0]])
    np.testing.assert_array_equal(ids[0], expected)
    np.testing.assert_array_equal(ids[1], expected)  # case, spacing and punctuation ignored
    np.testing.assert_array_equal(ids[2:], 0)  # no words: all padding


def test_title_hashing_cuts_long_titles_and_stays_in_range():
    layer = TitleHashing(64, max_tokens=6)
    titles = ["Trail-running SHOE, blue", "a b c d e f g h i j", "één twee"]
    ids = layer(tf.constant(titles)).numpy()
    # 4 words + 3 bigrams = 7 tokens: the 4 words and the first 2 bigrams are kept
    words = ["trail", "running", "shoe", "blue", "trail running", "running shoe"]
    np.testing.assert_array_equal(ids[0], _hash(words, 63) + 1)
    assert (ids[1] > 0).all()  # 10 words: cut to the first 6
    np.testing.assert_array_equal(ids[1], _hash(list("abcdef"), 63) + 1)
    assert ((ids >= 0) & (ids < 64)).all() and (ids[2, :3] > 0).all()


def test_hashing_is_stable_across_runs_and_versions():
    """FarmHash buckets are part of every saved tower: pinned values, so an upgrade that
    changed them (and silently scrambled saved title and user embeddings) fails here."""
    title = TitleHashing(1024, max_tokens=4)(tf.constant(["Red Shoe!"])).numpy()
    np.testing.assert_array_equal(title, [[690, 540, 98, 0]])
    users = UserIdHashing(1000)(tf.constant(["user-1", "user-2", "", "user-1"])).numpy()
    np.testing.assert_array_equal(users, [116, 697, 1000, 116])


def test_user_id_hashing_no_id_bucket_and_dropout_only_in_training():
    ids = np.array([f"user-{i}" for i in range(4000)])
    layer = UserIdHashing(1000, dropout=0.5, seed=3)
    inference = layer(tf.constant(ids), training=False).numpy()
    np.testing.assert_array_equal(inference, _hash(ids.tolist(), 1000))
    assert ((inference >= 0) & (inference < 1000)).all()
    assert layer(tf.constant([""]), training=False).numpy().tolist() == [1000]
    trained = layer(tf.constant(ids), training=True).numpy()
    dropped = trained == 1000
    assert 0.45 < dropped.mean() < 0.55  # about the dropout fraction gets "no id"
    np.testing.assert_array_equal(trained[~dropped], inference[~dropped])
    no_dropout = UserIdHashing(1000)(tf.constant(ids), training=True).numpy()
    np.testing.assert_array_equal(no_dropout, inference)


# -- lookups -------------------------------------------------------------------------------
def test_catalogue_lookup_padding_and_out_of_range_give_zero():
    layer = CatalogueLookup(4)
    layer.table.assign(np.array([0, 10, 11, 12, 13], dtype=np.int32))  # row 0: padding
    out = layer(tf.constant([[-1, 0, 3, 4, 100], [2, 1, -7, 0, 3]], dtype=tf.int32)).numpy()
    np.testing.assert_array_equal(out, [[0, 10, 13, 0, 0], [12, 11, 0, 10, 13]])
    assert out.dtype == np.int32 and not layer.trainable_weights


def test_index_clip_keeps_codes_inside_the_table():
    out = IndexClip(16)(tf.constant([-3, 0, 7, 15, 16, 99], dtype=tf.int32)).numpy()
    np.testing.assert_array_equal(out, [0, 0, 7, 15, 15, 15])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(IndexClip(1)(tf.constant([-1, 0, 5])).numpy(), [0, 0, 0])


# -- pooling -------------------------------------------------------------------------------
def test_masked_mean_ignores_padding_tokens():
    rng = np.random.default_rng(0)
    embedded = rng.normal(size=(3, 4, 2)).astype(np.float32)
    token_ids = np.array([[5, 0, 7, 0], [0, 0, 0, 0], [1, 2, 3, 4]], dtype=np.int64)
    out = MaskedMean()([tf.constant(embedded), tf.constant(token_ids)]).numpy()
    expected = np.stack([embedded[0, [0, 2]].mean(0), np.zeros(2), embedded[2].mean(0)])
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    changed = embedded.copy()
    changed[token_ids == 0] = 1e6  # whatever sits at padding positions
    again = MaskedMean()([tf.constant(changed), tf.constant(token_ids)]).numpy()
    np.testing.assert_array_equal(again, out)


def _numpy_attention(seq, mask_source, kernel, query, bias):
    """Softmax over the real positions only (padding left out), weighted sum."""
    out = np.zeros((seq.shape[0], seq.shape[2]))
    for i in range(seq.shape[0]):
        real = np.flatnonzero(mask_source[i] >= 0)
        if not len(real):
            continue
        scores = np.tanh(seq[i, real] @ kernel) @ query + bias[real]
        weights = np.exp(scores - scores.max())
        out[i] = (weights / weights.sum()) @ seq[i, real]
    return out


def test_attention_pooling_matches_numpy_and_ignores_padding():
    rng = np.random.default_rng(1)
    seq = rng.normal(size=(3, 4, 5)).astype(np.float32)
    mask_source = np.array([[7, 2, -1, -1], [-1, -1, -1, -1], [0, 1, 2, 3]], dtype=np.int32)
    layer = AttentionPooling(6)
    layer.build([seq.shape, mask_source.shape])
    kernel = rng.normal(size=(5, 6)).astype(np.float32)
    query = rng.normal(size=6).astype(np.float32)
    bias = np.array([0.5, 0.0, -0.5, 1.0], dtype=np.float32)
    layer.set_weights([kernel, query, bias])
    out = layer([tf.constant(seq), tf.constant(mask_source)]).numpy()
    expected = _numpy_attention(seq, mask_source, kernel, query, bias)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[1], 0.0)  # all padding: zeros, not NaN
    changed = seq.copy()
    changed[mask_source < 0] = 50.0
    again = layer([tf.constant(changed), tf.constant(mask_source)]).numpy()
    np.testing.assert_allclose(again, out, rtol=1e-6, atol=1e-7)


# -- serialisation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer",
    [
        TitleHashing(512, max_tokens=8),
        UserIdHashing(100, dropout=0.2, seed=5),
        CatalogueLookup(7),
        IndexClip(9),
        MaskedMean(),
        AttentionPooling(3),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_are_registered_and_round_trip_their_config(layer):
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == f"shoprec>{type(layer).__name__}"
    again = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
