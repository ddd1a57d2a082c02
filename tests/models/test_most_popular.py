"""MostPopular: distinct users or summed weights."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shoprec.models.most_popular import MostPopular
from tests.tiny import SMALL, make_interactions


# -- MostPopular -----------------------------------------------------------------------------
def test_most_popular_counts_distinct_users():
    model = MostPopular().fit(make_interactions(SMALL))
    np.testing.assert_array_equal(model.popularity, [4, 3, 2, 1, 0])
    scores = model.score(sp.csr_matrix(SMALL[:2]))
    assert scores.shape == (2, 5)
    np.testing.assert_array_equal(scores[0], scores[1])
    idx, _ = model.recommend_indices(np.array([3]), 5, exclude_seen=False)
    assert idx.tolist() == [[0, 1, 2, 3, 4]]


def test_most_popular_weight_measure_sums_values():
    model = MostPopular(measure="weight").fit(make_interactions(SMALL))
    np.testing.assert_allclose(model.popularity, SMALL.sum(axis=0))
    # weight ranks item 0 (sum 9) first, then items 1 (3) and 2 (2)
    idx, _ = model.recommend_indices(np.array([3]), 2, exclude_seen=True)
    assert idx.tolist() == [[1, 2]]


def test_most_popular_rejects_unknown_measure():
    with pytest.raises(ValueError, match="measure"):
        MostPopular(measure="clicks")
