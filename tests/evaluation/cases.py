"""Hand-made ranking cases shared by the metric and bootstrap tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def targets_from_sets(sets: list[set[int]], n_items: int) -> sp.csr_matrix:
    rows = [u for u, items in enumerate(sets) for _ in items]
    cols = [i for items in sets for i in sorted(items)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))


def random_case(seed: int, n_users: int = 200, n_items: int = 50, k_max: int = 20):
    rng = np.random.default_rng(seed)
    recommended = np.full((n_users, k_max), -1)
    relevant: list[set[int]] = []
    for u in range(n_users):
        length = rng.integers(k_max // 2, k_max + 1)  # some lists are padded
        recommended[u, :length] = rng.permutation(n_items)[:length]
        n_rel = rng.integers(1, 15)
        relevant.append(set(rng.choice(n_items, size=n_rel, replace=False).tolist()))
    return recommended, relevant
