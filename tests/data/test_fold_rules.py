"""The rules of a cross-validation fold, one test each: fold k's training data ends before its
validation start, its test window is exactly [T2_k, T2_k + test_days), and nothing from its test
window or later reaches its features or models; fold 0 is today's split; leave-last-out folds
hold out each user's k-th-from-last target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shoprec.config import FeatureParams, Params, SplitParams, TargetParams
from shoprec.data.split import fold_events, split_events, split_fold
from shoprec.data.synthetic import generate_shop
from shoprec.errors import ConfigError
from shoprec.evaluation.holdout import prepare_holdout
from shoprec.features.interactions import build_interactions
from shoprec.training.every_model import fit_every_model
from shoprec.training.inputs import TrainingInputs

SPLIT = SplitParams(test_days=7, validation_days=7)
TARGETS = TargetParams()
FEATURES = FeatureParams()
STEP = 7
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def shop():
    return generate_shop(users=300, items=150, days=42, seed=4)


def fold_split(events, k, split=SPLIT, step=STEP):
    return split_fold(
        events,
        split.strategy,
        split.test_days,
        split.validation_days,
        TARGETS.relevant_event_types,
        split.min_holdout_events,
        k,
        step,
    )


@pytest.mark.parametrize("k", [0, 1, 2])
def test_training_data_ends_before_the_validation_start(shop, k):
    split = fold_split(shop[0], k)
    t1, t2 = pd.Timestamp(split.info["validation_start"]), pd.Timestamp(split.info["test_start"])
    assert split.train["timestamp"].max() < t1
    assert split.validation["timestamp"].between(t1, t2, inclusive="left").all()
    assert len(split.validation) > 0


@pytest.mark.parametrize("k", [0, 1, 2])
def test_the_test_window_is_exactly_t2_k_to_t2_k_plus_test_days(shop, k):
    events = shop[0]
    today = fold_split(events, 0)
    split = fold_split(events, k)
    t2 = pd.Timestamp(split.info["test_start"])
    end = pd.Timestamp(split.info["test_end"])
    assert t2 == pd.Timestamp(today.info["test_start"]) - k * STEP * DAY
    assert end - t2 == SPLIT.test_days * DAY
    assert split.test["timestamp"].between(t2, end, inclusive="left").all()
    inside = events["timestamp"].between(t2, end, inclusive="left")
    assert len(split.test) == int(inside.sum())  # nothing of the window is lost
    later = events["timestamp"] >= end
    assert int(later.sum()) == split.info["fold"]["dropped"] == (k > 0) * int(later.sum())
    assert len(split.train) + len(split.validation) + len(split.test) == int((~later).sum())


@pytest.mark.parametrize("k", [1, 2])
def test_no_test_event_reaches_the_folds_features_or_models(shop, k):
    events, items = shop
    holdout = prepare_holdout(events, items, SPLIT, FEATURES, TARGETS, fold=k, step_days=STEP)
    t1 = pd.Timestamp(holdout.split.info["validation_start"])
    t2 = pd.Timestamp(holdout.split.info["test_start"])
    end = pd.Timestamp(holdout.split.info["test_end"])
    catalogue = holdout.items["item_id"]
    for cut, matrix in ((t2, holdout.history), (t1, holdout.before_validation)):
        expected = build_interactions(
            events[events["timestamp"] < cut],
            catalogue,
            FEATURES.event_weights,
            FEATURES.transform,
        )
        assert np.array_equal(matrix.user_ids, expected.user_ids)
        assert np.array_equal(matrix.item_ids, expected.item_ids)
        assert (matrix.matrix != expected.matrix).nnz == 0
    # an item first seen at or after the fold's test end did not exist yet
    first_seen = events.groupby("item_id")["timestamp"].min()
    born_later = set(first_seen[first_seen >= end].index.astype(str))
    assert born_later, "the shop should have items that appear late"
    assert not born_later & set(catalogue.astype(str))

    inputs = TrainingInputs.from_holdout(holdout, items, TARGETS, FEATURES.event_weights)
    assert inputs.train["timestamp"].max() < t1
    assert inputs.validation["timestamp"].max() < t2
    params = Params.model_validate(
        {"train": {"two_tower": False, "sequential": False, "two_stage": False}}
    )
    fitted = fit_every_model(inputs, params)
    assert set(fitted.models) == set(params.train.models)
    for model in fitted.models.values():
        history = model._require_fitted()
        assert np.array_equal(history.user_ids, holdout.history.user_ids)
        assert (history.matrix != holdout.history.matrix).nnz == 0


def test_fold_zero_is_todays_split(shop):
    events = shop[0]
    today = split_events(events, "temporal", 7, 7, TARGETS.relevant_event_types)
    fold = fold_split(events, 0)
    for part in ("train", "validation", "test"):
        pd.testing.assert_frame_equal(getattr(fold, part), getattr(today, part))


def test_a_fold_that_slides_past_the_data_says_what_to_do(shop):
    with pytest.raises(ConfigError, match=r"evaluation.cv fold 4: .*fewer folds"):
        fold_split(shop[0], 4)


def hand_made_log() -> pd.DataFrame:
    """u1: purchases on days 2, 4, 6, 8; u2: on days 3, 5, 7; u3: one purchase only."""

    def at(day, hour=12):
        return pd.Timestamp(f"2026-03-{day:02d} {hour:02d}:00", tz="UTC")

    rows = [("u1", "v", "view", at(1))]
    rows += [("u1", f"p{d}", "purchase", at(d)) for d in (2, 4, 6, 8)]
    rows += [("u1", "v", "view", at(7))]
    rows += [("u2", f"p{d}", "purchase", at(d)) for d in (3, 5, 7)]
    rows += [("u3", "p1", "purchase", at(1)), ("u3", "v", "view", at(9))]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])


def test_a_leave_last_out_fold_holds_out_each_users_kth_from_last_target():
    events = hand_made_log()
    llo = SplitParams(strategy="leave_last_out", min_holdout_events=2)
    kept, how = fold_events(events, "leave_last_out", 1, STEP, ["purchase"])
    # from each user's last purchase on, events are gone; u3's single purchase is its last
    assert how["users_cut"] == 3
    assert sorted(kept.loc[kept["user_id"] == "u1", "item_id"]) == ["p2", "p4", "p6", "v", "v"]
    assert "p7" not in set(kept["item_id"]) and not (kept["user_id"] == "u3").any()

    split = fold_split(events, 1, split=llo)
    test = split.test.groupby("user_id")["item_id"].apply(sorted).to_dict()
    validation = split.validation.groupby("user_id")["item_id"].apply(sorted).to_dict()
    # the 2nd-from-last targets, and what came after them before the dropped last one
    assert test == {"u1": ["p6", "v"], "u2": ["p5"]}
    assert validation == {"u1": ["p4"], "u2": ["p3"]}  # the one before each
    assert sorted(split.train["item_id"]) == ["p2", "v"]

    fold2 = fold_split(events, 2, split=llo)
    # u2 has too few targets left (p3 only): all train
    assert fold2.test.groupby("user_id")["item_id"].apply(sorted).to_dict() == {"u1": ["p4"]}
    assert set(fold2.train.loc[fold2.train["user_id"] == "u2", "item_id"]) == {"p3"}

    today = split_events(events, "leave_last_out", 7, 7, ["purchase"], 2)
    fold0 = fold_split(events, 0, split=llo)
    pd.testing.assert_frame_equal(fold0.test, today.test)
