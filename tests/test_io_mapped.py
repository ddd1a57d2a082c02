"""Memory-mapped ``.npz`` members: the same arrays as ``np.load``, shared pages, no pickle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shoprec.io import memory_mapped_npz, memory_mapped_sparse


def test_members_equal_np_load_and_are_mapped(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "dense": rng.random((50, 7)).astype(np.float32),
        "fortran": np.asfortranarray(rng.random((9, 4))),
        "ids": np.array(["a", "bc", "def"]),
        "empty": np.zeros((0, 3), dtype=np.int64),
    }
    np.savez(tmp_path / "a.npz", **arrays)
    mapped = memory_mapped_npz(tmp_path / "a.npz")
    assert set(mapped) == set(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(mapped[key], value)
    assert isinstance(mapped["dense"].base, np.memmap)
    with pytest.raises(ValueError, match="read-only"):
        mapped["dense"][0, 0] = 1.0


def test_sparse_matrix_round_trip(tmp_path):
    matrix = sp.random(40, 30, density=0.1, format="csr", random_state=1, dtype=np.float32)
    sp.save_npz(tmp_path / "m.npz", matrix, compressed=False)
    mapped = memory_mapped_sparse(tmp_path / "m.npz")
    assert (mapped != matrix).nnz == 0
    assert isinstance(mapped.data.base, np.memmap)
    np.testing.assert_allclose((mapped @ matrix.T).toarray(), (matrix @ matrix.T).toarray())


def test_compressed_and_object_members_are_refused(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="compressed"):
        memory_mapped_npz(tmp_path / "c.npz")
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="Python objects"):
        memory_mapped_npz(tmp_path / "o.npz")
