"""Worker processes of one machine that need the same registry version at once: one
downloads it, the others wait for that copy and load it; none removes a copy another is
loading (the race a CI run once hit with two Dask workers)."""

from __future__ import annotations

import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor

from shoprec.batch_scoring.parts import FETCHED_MODELS, ModelSource, _fetch, model_fingerprint
from shoprec.registry import LocalStore, Registry
from shoprec.training.model_table import load_model

PROCESSES = 4


def fetch_and_load(source: ModelSource, temporary: str, start) -> tuple[str, int]:
    """One worker process: wait for the others (``start``, a barrier), fetch into
    ``temporary`` (its tempdir), load the copy, and say which copy it loaded (the folder's
    inode: one download means one inode)."""
    tempfile.tempdir = temporary
    start.wait()
    directory = _fetch(source)
    load_model(directory)
    return model_fingerprint(directory), directory.stat().st_ino


def test_processes_that_fetch_one_version_at_once_all_load_it(batch_shop, tmp_path):
    registry = Registry(LocalStore(tmp_path / "registry"))
    version = registry.register("itemknn", batch_shop["dir"], by="test")
    fingerprint = model_fingerprint(batch_shop["dir"])
    source = ModelSource(
        str(tmp_path / "gone"), fingerprint, str(tmp_path / "registry"), "itemknn", version
    )
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        start = manager.Barrier(PROCESSES)
        arguments = [source] * PROCESSES, [str(temporary)] * PROCESSES, [start] * PROCESSES
        results = list(pool.map(fetch_and_load, *arguments))
    target = temporary / FETCHED_MODELS / f"itemknn-v{version}-{fingerprint[:16]}"
    assert {found for found, _ in results} == {fingerprint}
    assert {inode for _, inode in results} == {target.stat().st_ino}  # one copy, still there
    assert [p for p in target.parent.iterdir() if not p.name.startswith(".")] == [target]
