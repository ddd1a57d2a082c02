"""EASE: the closed-form weights, and the item limit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shoprec.errors import ConfigError
from shoprec.models.ease import EASE
from tests.tiny import SMALL, make_interactions, random_dense


# -- EASE ------------------------------------------------------------------------------------
@pytest.mark.parametrize("l2", [0.5, 10.0])
def test_ease_weights_match_closed_form(l2):
    dense = random_dense(4)
    n_items = dense.shape[1]
    model = EASE(l2=l2).fit(make_interactions(dense))
    x = dense.astype(np.float32).astype(np.float64)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(n_items))
    expected = np.eye(n_items) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights, expected, rtol=1e-4, atol=1e-5)
    assert np.all(np.diag(model.weights) == 0)
    np.testing.assert_allclose(
        model.score(sp.csr_matrix(dense.astype(np.float32))), x @ expected, rtol=1e-3, atol=1e-4
    )


def test_ease_refuses_too_many_items():
    model = EASE(l2=1.0, max_items=4)
    with pytest.raises(ConfigError, match="max_items"):
        model.fit(make_interactions(SMALL))  # 5 items > 4
    EASE(l2=1.0, max_items=5).fit(make_interactions(SMALL))  # exactly at the limit is fine
