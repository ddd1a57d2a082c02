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
