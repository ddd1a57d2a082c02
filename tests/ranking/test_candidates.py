"""The candidate union: every source's list, nothing seen before, recall at least any source's."""

from __future__ import annotations

import numpy as np

from shoprec.ranking.candidates import SOURCES, mean_recall, per_user_recall


# -- candidates ------------------------------------------------------------------------------
def test_the_union_holds_every_source_list_without_items_seen_before(two_stage_fit, tiny_shop):
    model, _ = two_stage_fit
    rows = tiny_shop["holdout"].targets.user_rows[:50]
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
    recall = mean_recall([per_user_recall(candidates, tiny_shop["holdout"].targets.targets[:50])])
    assert all(recall["union"] >= recall[s] for s in candidates.lists)
    assert 0 < recall["union"] <= 1


def test_the_sparse_paths_give_the_dense_lists(two_stage_fit, monkeypatch):
    """Above SPARSE_MIN_ITEMS the item-to-item sources are ranked from their nonzeros and
    popular_recent from one shared order: the same lists, scores and candidates as dense."""
    from shoprec.ranking import candidates

    sources = two_stage_fit[0]._sources()
    rows = np.arange(sources.history.shape[0])
    for exclude_seen in (True, False):
        monkeypatch.setattr(candidates, "SPARSE_MIN_ITEMS", 10**9)
        dense = candidates.generate_candidates(sources, rows, exclude_seen)
        monkeypatch.setattr(candidates, "SPARSE_MIN_ITEMS", 0)
        sparse = candidates.generate_candidates(sources, rows, exclude_seen)
        assert set(dense.lists) == set(sparse.lists)
        assert {"itemknn", "covisit", "popular_recent"} & set(sparse.lists)
        for source, idx in dense.lists.items():
            np.testing.assert_array_equal(sparse.lists[source], idx, err_msg=source)
        np.testing.assert_array_equal(sparse.item, dense.item)
        np.testing.assert_array_equal(sparse.user, dense.user)
        np.testing.assert_array_equal(sparse.source_scores, dense.source_scores)
        np.testing.assert_array_equal(sparse.source_ranks, dense.source_ranks)
