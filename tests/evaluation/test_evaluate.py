"""Test targets (who is evaluated on what) and a full evaluate_model run on a hand-made case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from shoprec.evaluation.evaluate import build_targets, evaluate_model
from shoprec.features.interactions import Interactions
from shoprec.models.base import Recommender
from shoprec.models.most_popular import MostPopular

RELEVANT = ["addtocart", "purchase"]

#            a  b  c  d  e
HISTORY = np.array(
    [
        [1, 0, 0, 0, 0],  # u1 saw a
        [1, 1, 0, 0, 0],  # u2 saw a, b
        [0, 1, 1, 0, 0],  # u3 saw b, c
    ],
    dtype=np.float32,
)


def history() -> Interactions:
    return Interactions(
        matrix=sp.csr_matrix(HISTORY),
        user_ids=np.array(["u1", "u2", "u3"]),
        item_ids=np.array(["a", "b", "c", "d", "e"]),
    )


def make_log(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type"])
    frame["timestamp"] = pd.Timestamp("2024-05-01", tz="UTC")
    return frame


TEST_LOG = make_log(
    [
        ("u1", "a", "purchase"),  # seen before: a repeat
        ("u1", "c", "purchase"),
        ("u1", "c", "addtocart"),  # the same pair twice counts once
        ("u1", "e", "view"),  # not a relevant event type
        ("u2", "d", "addtocart"),  # d: in the catalogue, nobody's history (a new item)
        ("u2", "zzz", "purchase"),  # not in the catalogue
        ("cold", "a", "purchase"),  # user without history
        ("cold", "b", "purchase"),
        ("u3", "e", "view"),  # u3 has only a view in the test period
    ]
)


def dense_targets(targets) -> dict[int, set[int]]:
    return {
        int(row): set(targets.targets[i].indices.tolist())
        for i, row in enumerate(targets.user_rows)
    }


def test_build_targets_without_repeats():
    targets = build_targets(TEST_LOG, history(), RELEVANT, repeat_purchases=False)
    assert dense_targets(targets) == {0: {2}, 1: {3}}  # u1: c (a was seen), u2: d
    assert targets.targets.shape == (2, 5)
    assert targets.info == {
        "relevant_test_events": 7,
        "test_users": 3,
        "cold_test_users_skipped": 1,
        "events_on_unknown_items_skipped": 1,
        "target_pairs_before_repeat_filter": 3,
        "target_pairs": 2,
        "target_pairs_on_new_items": 1,
        "evaluated_users": 2,
    }


def test_build_targets_with_repeats_keeps_seen_items():
    targets = build_targets(TEST_LOG, history(), RELEVANT, repeat_purchases=True)
    assert dense_targets(targets) == {0: {0, 2}, 1: {3}}
    assert targets.info["target_pairs"] == 3
    assert targets.info["target_pairs_before_repeat_filter"] == 3
    np.testing.assert_array_equal(targets.targets.data, 1.0)


def test_a_user_whose_only_target_is_a_repeat_is_not_evaluated():
    log = make_log([("u2", "b", "purchase"), ("u3", "a", "purchase")])
    without = build_targets(log, history(), RELEVANT, repeat_purchases=False)
    assert without.user_rows.tolist() == [2]
    assert with_repeats_rows(log) == [1, 2]


def with_repeats_rows(log: pd.DataFrame) -> list[int]:
    return build_targets(log, history(), RELEVANT, repeat_purchases=True).user_rows.tolist()


def test_only_relevant_event_types_count():
    purchases = build_targets(TEST_LOG, history(), ["purchase"], repeat_purchases=False)
    assert dense_targets(purchases) == {0: {2}}  # u2's d was an add-to-cart only
    assert purchases.info["relevant_test_events"] == 5
    views = build_targets(TEST_LOG, history(), ["view"], repeat_purchases=False)
    assert dense_targets(views) == {0: {4}, 2: {4}}
    assert views.info["cold_test_users_skipped"] == 0


# -- evaluate_model --------------------------------------------------------------------------
class FixedScores(Recommender):
    """Scores every item the same way for every user, from a fixed vector."""

    name = "fixed"

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.fixed = np.asarray(scores, dtype=np.float32)

    def _fit(self, train, items) -> None:
        pass

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.fixed, (history.shape[0], 1))


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_evaluate_model_target_ranked_first_gives_ndcg_one(exclude_seen):
    log = make_log([("u1", "c", "purchase")])
    targets = build_targets(log, history(), RELEVANT, repeat_purchases=False)
    # c scores highest of all items, so it is first whether seen items are excluded or not
    model = FixedScores([0.5, 0.4, 0.9, 0.1, 0.0]).fit(history())
    result = evaluate_model(
        model, targets, ks=[1, 3], exclude_seen=exclude_seen, bootstrap_samples=20
    )
    assert result.users == 1
    for metric in ("ndcg@1", "hitrate@1", "precision@1", "recall@1", "mrr@1", "ndcg@3"):
        assert result.values[metric] == pytest.approx(1.0), metric
    assert result.values["precision@3"] == pytest.approx(1 / 3)
    low, high = result.intervals["ndcg@1"]
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)


def test_evaluate_model_exclusion_of_seen_items_changes_the_ranking():
    log = make_log([("u1", "c", "purchase"), ("u2", "d", "purchase")])
    targets = build_targets(log, history(), RELEVANT, repeat_purchases=False)
    # a and b score highest; u1 has seen a only, u2 has seen a and b
    model = FixedScores([0.9, 0.8, 0.7, 0.6, 0.0]).fit(history())
    excluded = evaluate_model(model, targets, ks=[1, 2], exclude_seen=True, bootstrap_samples=20)
    # u1 ranks b, c, ...: c at rank 2; u2 ranks c, d, ...: d at rank 2
    assert excluded.values["ndcg@1"] == pytest.approx(0.0)
    assert excluded.values["hitrate@2"] == pytest.approx(1.0)
    assert excluded.values["ndcg@2"] == pytest.approx(1 / np.log2(3))
    assert excluded.values["mrr@2"] == pytest.approx(0.5)
    included = evaluate_model(model, targets, ks=[1, 2], exclude_seen=False, bootstrap_samples=20)
    assert included.values["hitrate@2"] == pytest.approx(0.0)


def test_evaluate_model_per_user_mean_with_most_popular():
    # popularity (distinct users): a 2, b 2, c 1, d 0, e 0
    log = make_log([("u1", "b", "purchase"), ("u3", "a", "purchase")])
    targets = build_targets(log, history(), RELEVANT, repeat_purchases=False)
    model = MostPopular().fit(history())
    result = evaluate_model(model, targets, ks=[1], bootstrap_samples=20)
    # u1 (saw a) gets b first: hit; u3 (saw b, c) gets a first: hit
    assert result.users == 2
    assert result.values["ndcg@1"] == pytest.approx(1.0)
    log = make_log([("u1", "c", "purchase"), ("u3", "a", "purchase")])
    targets = build_targets(log, history(), RELEVANT, repeat_purchases=False)
    result = evaluate_model(model, targets, ks=[1], bootstrap_samples=20)
    assert result.values["ndcg@1"] == pytest.approx(0.5)  # u1 gets b first, not c
