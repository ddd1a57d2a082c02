"""One part of a batch: a chunk of users' top-K as Parquet bytes, and the Dask task that scores
and writes one part on a worker.

Both engines build a part with ``chunk_bytes`` and write it with one ``put`` of the output
store (whole or absent), so the local loop and the Dask tasks give byte-identical parts.

Where a worker finds the model (``ModelSource``): the caller has a verified model folder (a
saved model, or a registry version downloaded with every sha256 checked). A worker loads that
folder when it can read it, which on a ``LocalCluster`` is always so (same filesystem), and on
a remote cluster when the folder is on a filesystem every worker mounts at the same path. When
it cannot (the caller's temporary download lives on the caller's disk only) and the model is a
registry version, the worker downloads that version from the registry itself into its own
temporary folder, every sha256 checked again: a remote cluster needs no shared filesystem for
the model, only read access to the registry (and write access to the output) with the
workers' own credentials. Either way the worker checks the folder's fingerprint against the
caller's before it scores, so every part of a batch comes from the model of its plan. A model
scored from a local folder (no version) must be on storage the workers can read.

Each worker process loads a model once and keeps it for the parts that follow (a small cache
keyed by the folder and its fingerprint, the last ``CACHED_MODELS`` models).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from shoprec.errors import ShoprecError
from shoprec.models.base import Recommender
from shoprec.registry import Registry
from shoprec.storage import ObjectStore, open_store
from shoprec.training.model_table import load_model

PART_NAME = "part-{:05d}.parquet"
# dense scores held at once (users × items float32): the scoring working set, a few copies of
# this, outweighs a chunk's rows; smaller batches cost no speed (measured at 20k items)
SCORE_BYTES = 64 * 2**20
CACHED_MODELS = 2  # per worker process: the batch running now and, at most, one before it
FETCHED_MODELS = "shoprec-batch-models"  # under the worker's temporary folder

SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("rank", pa.int32()),
        ("item_id", pa.string()),
        ("score", pa.float32()),
        ("model", pa.string()),
        ("version", pa.int64()),  # null for a model scored from a local folder
    ]
)


def open_output(location: str | Path) -> ObjectStore:
    """The output store; S3 writes of a whole part get a longer timeout than registry calls."""
    return open_store(location, timeout_s=60.0)


def model_fingerprint(directory: str | Path) -> str:
    """sha256 over the model folder's files (their paths and sha256): tells two models apart
    that share a name and version (a local folder refit in place)."""
    directory = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(directory).as_posix()}\0{file_hash}\n".encode())
    return digest.hexdigest()


def chunk_bytes(
    model: Recommender, users: np.ndarray, k: int, model_name: str, version: int | None
) -> tuple[bytes, int]:
    """One chunk's rows as Parquet bytes (and their count)."""
    history = model.history
    rows = max(64, min(2048, SCORE_BYTES // (4 * max(1, history.shape[1]))))
    idx, scores = model.recommend_indices(history.user_positions(users), k, batch_size=rows)
    flat = idx.ravel()
    keep = flat >= 0
    n = int(keep.sum())
    table = pa.table(
        {
            "user_id": pa.array(np.repeat(users, k)[keep], pa.string()),
            "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), len(users))[keep]),
            "item_id": pa.array(history.item_ids[flat[keep]], pa.string()),
            "score": pa.array(scores.ravel()[keep], pa.float32()),
            "model": pa.repeat(pa.scalar(model_name, pa.string()), n),
            "version": (
                pa.nulls(n, pa.int64())
                if version is None
                else pa.repeat(pa.scalar(version, pa.int64()), n)
            ),
        },
        schema=SCHEMA,
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue(), n


# -- on a Dask worker ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSource:
    """The model a worker scores with: the caller's verified folder and its fingerprint, and
    where a worker that cannot read the folder fetches it (a registry URI, resolved, with the
    model's name and version; None for a model scored from a local folder)."""

    directory: str
    fingerprint: str
    registry: str | None = None
    name: str | None = None
    version: int | None = None


_models: OrderedDict[tuple[str, str], Recommender] = OrderedDict()
_loads: dict[str, int] = {}  # fingerprint → loads in this process (what the tests count)
_lock = threading.Lock()  # a worker with several threads still loads a model once


def model_loads() -> dict[str, int]:
    """How many times this process loaded each model (by fingerprint)."""
    with _lock:
        return dict(_loads)


def _fingerprint_or_none(directory: Path) -> str | None:
    if not directory.is_dir():
        return None
    try:
        return model_fingerprint(directory)
    except OSError:
        return None


def _fetch(source: ModelSource) -> Path:
    """The registry version into this machine's temporary folder, once per machine: worker
    processes of one machine take a file lock per version, so one downloads (privately, then
    an atomic rename) while the others wait and then read its copy; a valid copy is never
    removed, since another process may be loading it."""
    base = Path(tempfile.gettempdir()) / FETCHED_MODELS
    target = base / f"{source.name}-v{source.version}-{source.fingerprint[:16]}"
    if _fingerprint_or_none(target) == source.fingerprint:
        return target
    base.mkdir(parents=True, exist_ok=True)
    with FileLock(base / f".{target.name}.lock"):
        if _fingerprint_or_none(target) == source.fingerprint:  # another process fetched it
            return target
        private = base / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}"
        try:
            # the caller's resolved URI as it is (no SHOPREC_REGISTRY_URI of the worker's)
            Registry(open_store(source.registry)).download(source.name, source.version, private)
            if _fingerprint_or_none(private) != source.fingerprint:
                raise ShoprecError(
                    f"{source.registry}: {source.name} v{source.version} is not the model the "
                    "batch was planned with (its files differ); rerun the batch"
                )
            shutil.rmtree(target, ignore_errors=True)  # a partial copy (a killed process's)
            private.rename(target)
        finally:
            shutil.rmtree(private, ignore_errors=True)
    return target


def _load(source: ModelSource) -> Recommender:
    directory = Path(source.directory)
    if _fingerprint_or_none(directory) != source.fingerprint:
        if source.registry is None or source.name is None or source.version is None:
            state = "holds other files" if directory.is_dir() else "cannot be read"
            raise ShoprecError(
                f"{directory}: the model folder {state} on Dask worker (pid {os.getpid()}); "
                "a model from a local folder must be on storage every worker reads at the same "
                "path, or score a registry version (workers fetch it themselves)"
            )
        directory = _fetch(source)
    return load_model(directory)


def cached_model(source: ModelSource) -> Recommender:
    """The model of ``source``, loaded once per process and kept for the next parts."""
    key = (source.directory, source.fingerprint)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        model = _load(source)
        _models[key] = model
        _loads[source.fingerprint] = _loads.get(source.fingerprint, 0) + 1
        while len(_models) > CACHED_MODELS:
            _models.popitem(last=False)
        return model


def score_part(
    index: int,
    users: np.ndarray,
    source: ModelSource,
    output: str,
    k: int,
    model_name: str,
    version: int | None,
) -> int:
    """The Dask task of one part: score ``users`` (chunk ``index`` of the plan) with the
    worker's copy of the model and write ``part-<index>.parquet`` to ``output`` (whole or
    absent, as the local engine does); returns the part's row count."""
    model = cached_model(source)
    data, rows = chunk_bytes(model, np.asarray(users, dtype=str), k, model_name, version)
    open_output(output).put(PART_NAME.format(index), data)
    return rows
