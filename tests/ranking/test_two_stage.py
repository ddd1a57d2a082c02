"""The two-stage model: better than popularity and than a single source, every candidate before the
fallback, and safe persistence."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from shoprec.errors import DataError
from shoprec.evaluation.evaluate import evaluate_model
from shoprec.ranking.two_stage import BOOSTER_FILE, SourceRecommender, TwoStageRecommender
from shoprec.training.model_table import create_model, load_model


# -- the model -------------------------------------------------------------------------------
def test_the_two_stage_model_beats_popularity_and_learned_something(two_stage_fit, tiny_shop):
    model, report = two_stage_fit
    h = tiny_shop["holdout"]
    ours = evaluate_model(model, h.targets, [10], bootstrap_samples=50).values["ndcg@10"]
    popular = create_model("most_popular").fit(h.history)
    theirs = evaluate_model(popular, h.targets, [10], bootstrap_samples=50).values["ndcg@10"]
    assert ours > theirs
    assert report["ranker"]["best_rounds"] >= 1
    assert sum(report["feature_importance"].values()) == pytest.approx(1.0, abs=1e-3)


def test_one_source_alone_ranks_its_own_candidates_and_the_ranker_beats_it(
    two_stage_fit, tiny_shop
):
    """``SourceRecommender`` (how the benchmarks compare each source with the two-stage model)
    ranks exactly that source's candidate list first; co-visitation alone carries signal
    (above popularity), and ranking the union of every source does better still."""
    model, _ = two_stage_fit
    h = tiny_shop["holdout"]
    single = SourceRecommender(model, "covisit")
    rows = h.targets.user_rows
    idx, _ = single.recommend_indices(rows, model.sources.sizes["covisit"])
    lists = model.candidates(rows).lists["covisit"]
    assert (lists >= 0).sum() > 0
    for r in range(len(rows)):
        own = lists[r][lists[r] >= 0]
        np.testing.assert_array_equal(idx[r][: len(own)], own)

    def ndcg(m) -> float:
        return evaluate_model(m, h.targets, [10], bootstrap_samples=10).values["ndcg@10"]

    popular = create_model("most_popular").fit(h.history)
    assert ndcg(popular) < ndcg(single) < ndcg(model)


def test_a_full_ranking_puts_every_candidate_before_the_fallback(two_stage_fit, tiny_shop):
    model, _ = two_stage_fit
    rows = tiny_shop["holdout"].targets.user_rows[:30]
    idx, scores = model.recommend_indices(rows, 400)
    candidates = model.candidates(rows)
    per_user = np.bincount(candidates.user, minlength=len(rows))
    for r in range(len(rows)):
        listed = idx[r][idx[r] >= 0]
        first = set(listed[: per_user[r]].tolist())
        assert first == set(candidates.item[candidates.user == r].tolist())
        assert np.all(np.diff(scores[r][np.isfinite(scores[r])]) <= 0)


def test_save_and_load_give_the_same_ranking_without_pickle(two_stage_fit, tiny_shop, tmp_path):
    model, _ = two_stage_fit
    path = model.save(tmp_path / "two_stage")
    assert (path / BOOSTER_FILE).is_file()
    for archive in path.rglob("*.npz"):
        with zipfile.ZipFile(archive) as z, np.load(archive, allow_pickle=False) as arrays:
            assert z.namelist()
            for key in arrays.files:
                assert arrays[key].dtype != object
    loaded = load_model(path)
    assert isinstance(loaded, TwoStageRecommender)
    rows = tiny_shop["holdout"].targets.user_rows
    original, again = model.recommend_indices(rows, 20), loaded.recommend_indices(rows, 20)
    np.testing.assert_array_equal(original[0], again[0])
    np.testing.assert_allclose(original[1], again[1], rtol=1e-6)

    (path / BOOSTER_FILE).write_bytes(b"not a booster")
    with pytest.raises(DataError, match="XGBoost"):
        load_model(path)
