"""The two-stage model: snapshot and training-window leakage, candidates, labels, the ranker,
reasons that name real features and the user's own seed items, and safe persistence."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from shoprec.config import FeatureParams, Params, SplitParams, TargetParams, TwoStageParams
from shoprec.data.synthetic import generate_shop
from shoprec.errors import ConfigError, DataError
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.models.embedding import EmbeddingRecommender
from shoprec.ranking import ranker
from shoprec.ranking.candidates import SOURCES, generate_candidates, mean_recall, per_user_recall
from shoprec.ranking.covisitation import covisitation, session_numbers
from shoprec.ranking.pair_features import feature_names, pair_features
from shoprec.ranking.snapshot import build_snapshot
from shoprec.ranking.two_stage import BOOSTER_FILE, SourceRecommender, TwoStageRecommender
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import create_model, load_model
from shoprec.training.two_stage import build_sources, fit_two_stage, graded_labels, training_pairs

DEFAULTS = Params().models
PARAMS = TwoStageParams(
    candidates={"two_tower": 40, "itemknn": 40, "ease": 40, "covisit": 30},
    booster={"num_boost_round": 80, "early_stopping_rounds": 15},
)
WEIGHTS = FeatureParams().event_weights
TARGETS = TargetParams()


def random_two_tower(history, seed: int) -> EmbeddingRecommender:
    """Stand-in two-tower vectors (the real model is tested in test_two_tower*.py)."""
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(history.shape[0], 8)).astype(np.float32)
    items = rng.normal(size=(history.shape[1], 8)).astype(np.float32)
    return EmbeddingRecommender.from_embeddings(history, users, items)


@pytest.fixture(scope="module")
def shop():
    events, items = generate_shop(users=500, items=300, days=28, seed=5)
    holdout = prepare_holdout(
        events, items, SplitParams(test_days=7, validation_days=7), FeatureParams(), TARGETS
    )
    info = holdout.split.info
    return {
        "events": events,
        "items": items,
        "holdout": holdout,
        "t1": pd.Timestamp(info["validation_start"]),
        "t2": pd.Timestamp(info["test_start"]),
    }


def fit(shop, train=None, validation=None, params=PARAMS):
    h = shop["holdout"]
    inputs = TrainingInputs.from_holdout(h, shop["items"], TARGETS, WEIGHTS)
    inputs = dataclasses.replace(
        inputs,
        train=h.split.train if train is None else train,
        validation=h.split.validation if validation is None else validation,
    )
    return fit_two_stage(
        inputs,
        params,
        DEFAULTS.itemknn,
        DEFAULTS.ease,
        two_tower_at_validation=random_two_tower(h.before_validation, 1),
        two_tower_at_test=random_two_tower(h.history, 2),
    )


@pytest.fixture(scope="module")
def fitted(shop):
    return fit(shop)


def _same_snapshot(a, b) -> None:
    for key, value in a.arrays().items():
        other = b.arrays()[key]
        if sp.issparse(value):
            assert (value != other).nnz == 0, key
        else:
            np.testing.assert_array_equal(value, other, err_msg=key)


# -- leakage ---------------------------------------------------------------------------------
def test_a_snapshot_ignores_every_event_at_or_after_its_cut(shop):
    h = shop["holdout"]
    before = shop["events"][shop["events"]["timestamp"] < shop["t1"]]
    args = (shop["items"], h.before_validation, shop["t1"], WEIGHTS, [1, 7, 30], 7.0)
    clean = build_snapshot(before, *args)
    everything = build_snapshot(shop["events"], *args)
    _same_snapshot(clean, everything)
    assert clean.cut == shop["t1"]
    assert np.nanmin(clean.item_first_days) > 0  # every counted event is strictly earlier


def test_the_ranker_never_sees_events_outside_its_window(shop, fitted):
    """Features come from before T1 and labels from [T1, T2): events the callers slip in
    from later periods (test events in train, test events in validation) change nothing."""
    h = shop["holdout"]
    model, report = fitted
    assert report["ranker_window"] == {
        "features_before": str(shop["t1"]),
        "labels_from": str(shop["t1"]),
        "labels_before": str(shop["t2"]),
    }
    later = pd.concat([h.split.validation, h.split.test], ignore_index=True)
    leaky_model, leaky_report = fit(
        shop,
        train=pd.concat([h.split.train, later], ignore_index=True),
        validation=later,
    )
    assert leaky_report["pairs"] == report["pairs"]
    assert leaky_report["positive_pairs"] == report["positive_pairs"]
    rows = h.targets.user_rows
    np.testing.assert_array_equal(
        leaky_model.recommend_indices(rows, 20)[0], model.recommend_indices(rows, 20)[0]
    )


def test_the_served_model_knows_nothing_of_the_test_period(shop, fitted):
    model, _ = fitted
    h = shop["holdout"]
    assert model.sources.snapshot.cut == shop["t2"]
    redo = build_sources(
        h.history,
        shop["events"],  # test events included: they must be cut off
        shop["items"],
        shop["t2"],
        PARAMS,
        DEFAULTS.itemknn,
        DEFAULTS.ease,
        WEIGHTS,
        random_two_tower(h.history, 2),
    )
    _same_snapshot(model.sources.snapshot, redo.snapshot)
    assert (model.sources.covisit != redo.covisit).nnz == 0


def test_training_labels_are_exactly_the_validation_events_of_the_candidates(shop):
    h = shop["holdout"]
    history = h.before_validation
    grades = PARAMS.label_grades
    labels = graded_labels(h.split.validation, history, grades, history.matrix)
    sources = build_sources(
        history,
        h.split.train,
        shop["items"],
        shop["t1"],
        PARAMS,
        DEFAULTS.itemknn,
        DEFAULTS.ease,
        WEIGHTS,
        None,
    )
    users = np.flatnonzero(np.diff(labels.indptr) > 0)[:100]
    x, y, qid, _ = training_pairs(sources, labels, labels, users, exclude_seen=True)
    assert len(x) == len(y) == len(qid) and np.all(np.diff(qid) >= 0)
    # rebuild the expected grade of every pair from the raw validation events
    v = h.split.validation
    v = v.assign(grade=v["event_type"].map(grades))
    best = v.groupby(["user_id", "item_id"])["grade"].max()
    candidates = generate_candidates(sources, users)
    for p in np.random.default_rng(0).choice(len(candidates), 300, replace=False):
        user = history.user_ids[users[candidates.user[p]]]
        item = history.item_ids[candidates.item[p]]
        seen = history.matrix[users[candidates.user[p]], candidates.item[p]] > 0
        expected = 0 if seen else best.get((user, item), 0)
        assert y[p] == expected


def test_graded_labels_keep_the_highest_grade_and_drop_items_seen_before(shop):
    h = shop["holdout"]
    history = h.before_validation
    u, i = history.user_ids[0], history.item_ids[3]
    events = pd.DataFrame(
        {
            "user_id": [u, u, u],
            "item_id": [i, i, i],
            "event_type": ["view", "purchase", "addtocart"],
            "timestamp": [shop["t1"]] * 3,
        }
    )
    labels = graded_labels(events, history, {"view": 1, "addtocart": 2, "purchase": 3})
    assert labels[0, 3] == 3 and labels.nnz == 1
    seen = sp.csr_matrix(([1.0], ([0], [3])), shape=history.shape)
    assert graded_labels(events, history, {"view": 1}, seen).nnz == 0


# -- candidates ------------------------------------------------------------------------------
def test_the_union_holds_every_source_list_without_items_seen_before(fitted, shop):
    model, _ = fitted
    rows = shop["holdout"].targets.user_rows[:50]
    candidates = model.candidates(rows)
    seen = model.history.matrix[rows]
    assert not np.asarray(seen[candidates.user, candidates.item]).ravel().any()
    pairs = set(zip(candidates.user.tolist(), candidates.item.tolist(), strict=True))
    for source, idx in candidates.lists.items():
        assert idx.shape[1] == model.sources.sizes[source]
        j = SOURCES.index(source)
        for r in range(len(rows)):
            for item in idx[r]:
                if item >= 0:
                    assert (r, int(item)) in pairs
        proposed = ~np.isnan(candidates.source_ranks[:, j])
        assert proposed.sum() == (idx >= 0).sum()
    recall = mean_recall([per_user_recall(candidates, shop["holdout"].targets.targets[:50])])
    assert all(recall["union"] >= recall[s] for s in candidates.lists)
    assert 0 < recall["union"] <= 1


def test_co_visitation_links_items_of_the_same_session():
    t = pd.Timestamp("2026-01-01", tz="UTC")
    minute = pd.Timedelta(minutes=1)
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b"],
            "item_id": ["x", "y", "z", "x", "y"],
            "timestamp": [t, t + minute, t + 90 * minute, t, t + minute],
        }
    )
    sessions = session_numbers(events, 30)
    assert sessions[0] == sessions[1] != sessions[2]  # a 90-minute pause starts a new one
    assert len(set(sessions.tolist())) == 3
    with_ids = events.assign(session_id=["s1", "s2", "s2", "s3", "s3"])
    assert len(set(session_numbers(with_ids, 30).tolist())) == 3
    similarity = covisitation(events, np.array(["x", "y", "z"]), 30, neighbors=5, shrinkage=0)
    assert similarity[0, 1] > 0 and similarity[1, 0] > 0
    assert similarity[0, 2] == 0 and similarity[1, 2] == 0


def test_pair_features_match_their_names_and_the_snapshot(fitted, shop):
    model, _ = fitted
    rows = shop["holdout"].targets.user_rows[:20]
    candidates = model.candidates(rows)
    x = pair_features(model.sources.snapshot, rows, candidates)
    names = feature_names(model.sources.snapshot.windows)
    assert x.shape == (len(candidates), len(names)) and x.dtype == np.float32
    price = x[:, names.index("item_log_price")]
    np.testing.assert_allclose(price, model.sources.snapshot.item_log_price[candidates.item])
    assert np.all(x[:, names.index("n_sources")] >= 1)


# -- the model -------------------------------------------------------------------------------
def test_the_two_stage_model_beats_popularity_and_learned_something(fitted, shop):
    model, report = fitted
    h = shop["holdout"]
    ours = evaluate_model(model, h.targets, [10], bootstrap_samples=50).values["ndcg@10"]
    popular = create_model("most_popular").fit(h.history)
    theirs = evaluate_model(popular, h.targets, [10], bootstrap_samples=50).values["ndcg@10"]
    assert ours > theirs
    assert report["ranker"]["best_rounds"] >= 1
    assert sum(report["feature_importance"].values()) == pytest.approx(1.0, abs=1e-3)
    single = SourceRecommender(model, "covisit")
    assert evaluate_model(single, h.targets, [10], bootstrap_samples=10).values["ndcg@10"] >= 0


def test_a_full_ranking_puts_every_candidate_before_the_fallback(fitted, shop):
    model, _ = fitted
    rows = shop["holdout"].targets.user_rows[:30]
    idx, scores = model.recommend_indices(rows, 400)
    candidates = model.candidates(rows)
    per_user = np.bincount(candidates.user, minlength=len(rows))
    for r in range(len(rows)):
        listed = idx[r][idx[r] >= 0]
        first = set(listed[: per_user[r]].tolist())
        assert first == set(candidates.item[candidates.user == r].tolist())
        assert np.all(np.diff(scores[r][np.isfinite(scores[r])]) <= 0)


def test_reasons_name_real_features_and_the_users_own_seed_items(fitted, shop):
    model, _ = fitted
    users = model.history.user_ids[shop["holdout"].targets.user_rows[:25]]
    table = model.recommend_with_reasons(users, k=10)
    names = set(model.names)
    assert len(table) == 25 * 10
    with_reasons = table[table["source"] == "candidates"]
    assert len(with_reasons) > 0
    assert all(1 <= len(r) <= 3 for r in with_reasons["reasons"])
    seeds = 0
    for row in with_reasons.itertuples():
        history = model.history.matrix[model.history.user_positions([row.user_id])[0]]
        own_items = set(model.history.item_ids[history.indices].tolist())
        for reason in row.reasons:
            assert reason["text"] and reason["contribution"] > 0
            assert set(reason["features"]) <= names
            if "seed_item" in reason:
                seeds += 1
                assert reason["seed_item"] in own_items
                assert reason["seed_item"] != row.item_id
    assert seeds > 0
    with pytest.raises(DataError, match="unknown user"):
        model.recommend_with_reasons(["nobody"], k=5)


def test_the_cli_prints_recommendations_with_reasons(fitted, shop, tmp_path):
    model, _ = fitted
    path = model.save(tmp_path / "two_stage")
    user = str(model.history.user_ids[shop["holdout"].targets.user_rows[0]])
    run = [sys.executable, "-m", "shoprec", "recommend", user, "--model", str(path)]
    proc = subprocess.run([*run, "-k", "5", "--json"], capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["rank"] for r in records] == [1, 2, 3, 4, 5]
    assert all(r["user_id"] == user for r in records)
    assert any(r["reasons"] for r in records)
    for record in records:
        for reason in record["reasons"]:
            assert set(reason["features"]) <= set(model.names)
    table = subprocess.run([*run, "-k", "3"], capture_output=True, text=True, check=True)
    assert "why" in table.stdout and user in table.stdout
    unknown = subprocess.run(
        [*run[:4], "nobody", *run[5:]], capture_output=True, text=True, check=False
    )
    assert unknown.returncode == 1
    assert unknown.stderr.strip().count("\n") == 0 and "unknown user" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_save_and_load_give_the_same_ranking_without_pickle(fitted, shop, tmp_path):
    model, _ = fitted
    path = model.save(tmp_path / "two_stage")
    assert (path / BOOSTER_FILE).is_file()
    for archive in path.rglob("*.npz"):
        with zipfile.ZipFile(archive) as z, np.load(archive, allow_pickle=False) as arrays:
            assert z.namelist()
            for key in arrays.files:
                assert arrays[key].dtype != object
    loaded = load_model(path)
    assert isinstance(loaded, TwoStageRecommender)
    rows = shop["holdout"].targets.user_rows
    original, again = model.recommend_indices(rows, 20), loaded.recommend_indices(rows, 20)
    np.testing.assert_array_equal(original[0], again[0])
    np.testing.assert_allclose(original[1], again[1], rtol=1e-6)

    (path / BOOSTER_FILE).write_bytes(b"not a booster")
    with pytest.raises(DataError, match="XGBoost"):
        load_model(path)


def test_the_ranker_picks_the_gpu_only_when_xgboost_can_use_one():
    assert ranker.pick_device("cpu") == "cpu"
    if ranker.cuda_available():
        assert ranker.pick_device("auto") == ranker.pick_device("cuda") == "cuda"
    else:
        assert ranker.pick_device("auto") == "cpu"
        with pytest.raises(ConfigError, match="no GPU"):
            ranker.pick_device("cuda")


def test_too_little_validation_data_is_a_readable_error(shop):
    h = shop["holdout"]
    with pytest.raises(DataError, match="nothing to learn from"):
        fit(shop, validation=h.split.validation.iloc[:0])
