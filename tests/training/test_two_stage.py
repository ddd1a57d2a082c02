"""Training the two-stage model: the ranker learns from features before T1 and labels from
[T1, T2), the served model knows nothing of the test period, labels are the validation events of
the candidates, and too little data is a readable error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from shoprec.errors import DataError
from shoprec.ranking.candidates import generate_candidates
from shoprec.training.two_stage import build_sources, graded_labels, training_pairs
from tests.tiny import (
    DEFAULTS,
    WEIGHTS,
    assert_same_snapshot,
    fit_tiny_two_stage,
    random_two_tower,
)
from tests.tiny import TWO_STAGE as PARAMS


def test_the_ranker_never_sees_events_outside_its_window(tiny_shop, two_stage_fit):
    """Features come from before T1 and labels from [T1, T2): events the callers slip in
    from later periods (test events in train, test events in validation) change nothing."""
    h = tiny_shop["holdout"]
    model, report = two_stage_fit
    assert report["ranker_window"] == {
        "features_before": str(tiny_shop["t1"]),
        "labels_from": str(tiny_shop["t1"]),
        "labels_before": str(tiny_shop["t2"]),
    }
    later = pd.concat([h.split.validation, h.split.test], ignore_index=True)
    leaky_model, leaky_report = fit_tiny_two_stage(
        tiny_shop,
        train=pd.concat([h.split.train, later], ignore_index=True),
        validation=later,
    )
    assert leaky_report["pairs"] == report["pairs"]
    assert leaky_report["positive_pairs"] == report["positive_pairs"]
    rows = h.targets.user_rows
    np.testing.assert_array_equal(
        leaky_model.recommend_indices(rows, 20)[0], model.recommend_indices(rows, 20)[0]
    )


def test_the_served_model_knows_nothing_of_the_test_period(tiny_shop, two_stage_fit):
    model, _ = two_stage_fit
    h = tiny_shop["holdout"]
    assert model.sources.snapshot.cut == tiny_shop["t2"]
    redo = build_sources(
        h.history,
        tiny_shop["events"],  # test events included: they must be cut off
        tiny_shop["items"],
        tiny_shop["t2"],
        PARAMS,
        DEFAULTS.itemknn,
        DEFAULTS.ease,
        WEIGHTS,
        random_two_tower(h.history, 2),
    )
    assert_same_snapshot(model.sources.snapshot, redo.snapshot)
    assert (model.sources.covisit != redo.covisit).nnz == 0


def test_training_labels_are_exactly_the_validation_events_of_the_candidates(tiny_shop):
    h = tiny_shop["holdout"]
    history = h.before_validation
    grades = PARAMS.label_grades
    labels = graded_labels(h.split.validation, history, grades, history.matrix)
    sources = build_sources(
        history,
        h.split.train,
        tiny_shop["items"],
        tiny_shop["t1"],
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


def test_graded_labels_keep_the_highest_grade_and_drop_items_seen_before(tiny_shop):
    h = tiny_shop["holdout"]
    history = h.before_validation
    u, i = history.user_ids[0], history.item_ids[3]
    events = pd.DataFrame(
        {
            "user_id": [u, u, u],
            "item_id": [i, i, i],
            "event_type": ["view", "purchase", "addtocart"],
            "timestamp": [tiny_shop["t1"]] * 3,
        }
    )
    labels = graded_labels(events, history, {"view": 1, "addtocart": 2, "purchase": 3})
    assert labels[0, 3] == 3 and labels.nnz == 1
    seen = sp.csr_matrix(([1.0], ([0], [3])), shape=history.shape)
    assert graded_labels(events, history, {"view": 1}, seen).nnz == 0


def test_too_little_validation_data_is_a_readable_error(tiny_shop):
    h = tiny_shop["holdout"]
    with pytest.raises(DataError, match="nothing to learn from"):
        fit_tiny_two_stage(tiny_shop, validation=h.split.validation.iloc[:0])
