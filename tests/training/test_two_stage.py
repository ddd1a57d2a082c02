"""Training the two-stage model: the ranker learns from features before T1 and labels from
[T1, T2), the served model knows nothing of the test period, labels are the validation events of
the candidates, and too little data is a readable error. With leave_last_out the same holds
for each user's own cut times."""

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
    leave_last_out_shop,
    make_leave_last_out_shop,
    random_sequential,
    random_two_tower,
    sources_at_validation,
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
    sources = sources_at_validation(tiny_shop)
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


# -- leave_last_out: each user's own cut times -------------------------------------------------
class _Captured(Exception):
    """Stops fit_two_stage once its training pairs are known."""


def training_pairs_of(shop: dict, monkeypatch, train=None, validation=None) -> dict:
    """The query users and pair features ``fit_two_stage`` builds on ``shop`` (by user id)."""
    from shoprec.training import two_stage

    h = shop["holdout"]
    seen: dict = {}

    def capture(sources, labels, relevant, users, exclude_seen):
        x, _, qid, _ = training_pairs(sources, labels, relevant, users, exclude_seen)
        ids = h.before_validation.user_ids
        items = sources.history.item_ids
        candidates = generate_candidates(sources, users, exclude_seen=exclude_seen)
        for user in np.unique(qid):
            mine = qid == user
            seen[str(ids[user])] = (items[candidates.item[mine]], x[mine])
        raise _Captured

    monkeypatch.setattr(two_stage, "training_pairs", capture)
    with pytest.raises(_Captured):
        fit_tiny_two_stage(shop, train, validation)
    return seen


def same_pairs(a: dict, b: dict) -> bool:
    """The same query users, each with the same candidates and features (NaN equal to NaN)."""
    return a.keys() == b.keys() and all(
        np.array_equal(a[u][0], b[u][0]) and np.array_equal(a[u][1], b[u][1], equal_nan=True)
        for u in a
    )


def moved_after_the_cut(shop: dict, user: str, before: bool = False) -> pd.DataFrame:
    """The shop's events with ``user``'s events at or after their validation cut (or, with
    ``before``, their last event before it) moved to another item; the cut times stay."""
    events = shop["events"]
    cut = shop["holdout"].cuts.validation_at([user])[0]
    mine = (events["user_id"] == user).to_numpy()
    if before:
        earlier = mine & (events["timestamp"] < cut).to_numpy()
        chosen = np.flatnonzero(earlier)[[-1]]
    else:
        chosen = np.flatnonzero(mine & (events["timestamp"] >= cut).to_numpy())
    items = shop["items"]["item_id"].to_numpy()
    moved = events.copy()
    moved.iloc[chosen, moved.columns.get_loc("item_id")] = items[-1]
    # and one more late view of a third item (not a target: no cut time moves)
    extra = moved.iloc[chosen[-1:]].assign(item_id=items[-2], event_type="view")
    if not before:
        moved = pd.concat(
            [moved, extra.assign(timestamp=extra["timestamp"] + pd.Timedelta(1, "h"))]
        )
    return moved.reset_index(drop=True)


def test_leave_last_out_pair_features_use_only_events_before_each_users_own_cut(monkeypatch):
    shop = make_leave_last_out_shop()
    cuts = shop["holdout"].cuts
    assert not cuts.is_global
    pairs = training_pairs_of(shop, monkeypatch)
    user = next(u for u in cuts.users.index if u in pairs)

    later = leave_last_out_shop(moved_after_the_cut(shop, user), shop["items"])
    for name in ("validation_at", "test_at"):
        assert later["holdout"].cuts.users[name].equals(cuts.users[name])
    # the user's validation and test events moved: not one feature of any pair changed
    assert same_pairs(training_pairs_of(later, monkeypatch), pairs)

    earlier = leave_last_out_shop(moved_after_the_cut(shop, user, before=True), shop["items"])
    assert earlier["holdout"].cuts.users.equals(cuts.users)
    changed = training_pairs_of(earlier, monkeypatch)
    assert not same_pairs({user: changed[user]}, {user: pairs[user]})  # their history counts


def test_leave_last_out_ranker_sees_nothing_after_each_users_cut_whatever_it_is_given(
    monkeypatch,
):
    shop = make_leave_last_out_shop()
    h = shop["holdout"]
    clean = training_pairs_of(shop, monkeypatch)
    later = pd.concat([h.split.validation, h.split.test], ignore_index=True)
    leaky = training_pairs_of(
        shop,
        monkeypatch,
        train=pd.concat([h.split.train, later], ignore_index=True),
        validation=later,
    )
    assert same_pairs(leaky, clean)


def test_the_two_stage_model_fits_and_ranks_on_a_leave_last_out_split():
    shop = make_leave_last_out_shop()
    h = shop["holdout"]
    model, report = fit_tiny_two_stage(shop)
    assert report["ranker_window"]["features_before"].startswith("each user's own")
    assert report["labelled_query_users"] >= 2
    # the served snapshot: every user at their own test start, items at the latest
    assert model.sources.snapshot.cut == h.cuts.latest_test
    redo = build_sources(
        h.history,
        shop["events"],  # test events included: each user's are cut off at their test start
        shop["items"],
        h.cuts.test_at(h.history.user_ids),
        PARAMS,
        DEFAULTS.itemknn,
        DEFAULTS.ease,
        WEIGHTS,
        random_two_tower(h.history, 2),
    )
    assert_same_snapshot(model.sources.snapshot, redo.snapshot)
    ranked, _ = model.recommend_indices(h.targets.user_rows, 10, exclude_seen=False)
    assert (ranked >= 0).all()


def test_the_sequential_model_is_a_candidate_source_with_its_score_and_rank(two_stage_fit):
    model, report = two_stage_fit
    assert "sequential" in report["active_sources"]
    assert {"sequential_score", "sequential_rank"} <= set(model.names)
    assert "sequential" in report["candidate_recall_at_validation"]
    rows = np.arange(20)
    candidates = model.candidates(rows)
    column = model.names.index("sequential_score")
    proposed = ~np.isnan(candidates.source_scores[:, column])
    assert proposed.any()
    # its score is the softmax over the catalogue: a probability
    assert (candidates.source_scores[proposed, column] > 0).all()
    assert (candidates.source_scores[proposed, column] <= 1).all()


def test_a_block_with_only_its_own_users_rows_builds_exactly_the_local_pairs(tiny_shop):
    """The Dask engine's task gets the per-item sources and just its block's user rows
    (``CandidateSources.user_rows``): its pairs, labels, query ids and recall must equal
    ``training_pairs`` over the whole history, with every source on."""
    from shoprec.training.two_stage import _labelled_block

    h = tiny_shop["holdout"]
    history = h.before_validation
    labels = graded_labels(h.split.validation, history, PARAMS.label_grades, history.matrix)
    sources = sources_at_validation(
        tiny_shop, random_two_tower(history, 1), random_sequential(history, 3)
    )
    assert set(sources.active) >= {"two_tower", "sequential", "itemknn", "ease", "covisit"}
    users = np.flatnonzero(np.diff(labels.indptr) > 0)
    batch = np.sort(np.random.default_rng(0).choice(users, 60, replace=False))
    x, y, qid, recall = training_pairs(sources, labels, labels, batch, exclude_seen=True)
    keep = np.isin(qid, np.unique(qid[y > 0]))
    shared = sources.without_users()
    assert shared.history.shape[0] == 0 and shared.snapshot.recent.shape[0] == 0
    (bx, by, bqid), (brecall, groups, n_pairs, n_positive) = _labelled_block(
        batch, labels[batch], labels[batch], shared, sources.user_rows(batch), True
    )
    np.testing.assert_array_equal(bx, x[keep])
    np.testing.assert_array_equal(by, y[keep])
    np.testing.assert_array_equal(bqid, qid[keep])
    assert n_pairs == keep.sum() and n_positive == (y[keep] > 0).sum()
    np.testing.assert_array_equal(groups, np.unique(qid[y > 0]))
    assert {k: round(float(np.nanmean(v)), 6) for k, v in brecall.items()} == recall
