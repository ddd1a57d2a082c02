"""Pair features: one column per name, values from the snapshot."""

from __future__ import annotations

import numpy as np

from shoprec.ranking.pair_features import feature_names, pair_features


def test_pair_features_match_their_names_and_the_snapshot(two_stage_fit, tiny_shop):
    model, _ = two_stage_fit
    rows = tiny_shop["holdout"].targets.user_rows[:20]
    candidates = model.candidates(rows)
    x = pair_features(model.sources.snapshot, rows, candidates)
    names = feature_names(model.sources.snapshot.windows)
    assert x.shape == (len(candidates), len(names)) and x.dtype == np.float32
    price = x[:, names.index("item_log_price")]
    np.testing.assert_allclose(price, model.sources.snapshot.item_log_price[candidates.item])
    assert np.all(x[:, names.index("n_sources")] >= 1)
