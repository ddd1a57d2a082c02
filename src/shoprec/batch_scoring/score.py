"""Batch scoring: top-K for every active user, written as Parquet parts that a rerun resumes.

The users are sorted and cut into fixed chunks (chunk i = users[i*cs:(i+1)*cs]), so the same
inputs always give the same parts. A plan file (``_plan.json``: model, version, the model files'
fingerprint, k, chunk size and a hash of the user list) is written before any part. A rerun
with the same plan skips the parts that exist, which is safe because each part appears
whole or not at all (a local temporary file renamed into place, or one S3 ``put_object``). A
rerun with another plan stops with a readable error instead of mixing two batches.
``_SUCCESS.json`` is written last, so a reader knows when the folder is complete.

With a Dask client (``compute.engine: dask``) the same plan is scored as one task per
missing part: each worker loads the model once, scores its chunk and writes its part itself,
with the same code (``shoprec.batch_scoring.parts``), so the parts are byte-identical to the
local engine's; the plan is written here before the tasks start and ``_SUCCESS.json`` after
they all finished. Without a client (``local``) the parts are scored one by one in this process.

Memory stays at one chunk's scores and rows: no table of all users is ever built.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shoprec.batch_scoring.parts import (
    PART_NAME,
    ModelSource,
    chunk_bytes,
    model_fingerprint,
    open_output,
    score_part,
)
from shoprec.config import BatchScoringParams
from shoprec.errors import DataError, ShoprecError
from shoprec.models.base import Recommender
from shoprec.registry import Registry
from shoprec.storage import NotFound, ObjectStore
from shoprec.training.model_table import load_model

if TYPE_CHECKING:
    from distributed import Client

PLAN_FILE = "_plan.json"
SUCCESS_FILE = "_SUCCESS.json"

Progress = Callable[[int, int], None]


# -- where the parts go: a folder or s3://bucket/prefix (shoprec.storage, as the registry) --
def _names(out: ObjectStore) -> set[str]:
    """The files directly in the output (not in subfolders, not hidden)."""
    return {key for key in out.list("") if "/" not in key}


def _read(out: ObjectStore, name: str) -> bytes | None:
    try:
        return out.get(name).data
    except NotFound:
        return None


def _row_count(out: ObjectStore, name: str) -> int:
    return pq.read_metadata(pa.BufferReader(out.get(name).data)).num_rows


def resolve_output(configured: str | Path, root: str | Path = ".") -> str:
    """``s3://…`` as it is; a relative folder is taken relative to the project ``root``."""
    text = str(configured)
    if text.startswith("s3://") or Path(text).is_absolute():
        return text
    return str(Path(root) / text)


def run_location(
    base: str, as_of: date, model_name: str, version: int | None, fingerprint: str = ""
) -> str:
    """The folder of one run under ``base``: ``<as-of date>_<model>-v<version>``.

    The nightly batch gets a new folder when the data or the model changes, while a retry on
    the same data and model lands in the same folder and resumes."""
    label = f"v{version}" if version is not None else f"local-{fingerprint[:8] or 'model'}"
    name = f"{as_of:%Y-%m-%d}_{model_name}-{label}"
    return f"{base.rstrip('/')}/{name}" if base.startswith("s3://") else str(Path(base) / name)


# -- who is scored ---------------------------------------------------------------------------
def _read_events(path: str | Path, columns: list[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: events not found (run the pipeline first, or set batch_scoring.events)"
        )
    try:
        return pd.read_parquet(path, columns=columns)
    except (KeyError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot read columns {', '.join(columns)} ({exc})") from None


def active_users(model: Recommender, events_path: str | Path, active_days: int) -> np.ndarray:
    """Users known to ``model`` with an event in the ``active_days`` days up to the latest
    event of the file (window ``(latest - days, latest]``); ``0`` means every known user.
    Sorted and unique."""
    known = np.asarray(model.history.user_ids, dtype=str)
    if active_days == 0:
        return np.unique(known)
    events = _read_events(events_path, ["user_id", "timestamp"])
    if events.empty:
        return np.array([], dtype=str)
    cutoff = events["timestamp"].max() - pd.Timedelta(days=active_days)
    recent = events.loc[events["timestamp"] > cutoff, "user_id"].astype(str).unique()
    return np.intersect1d(known, np.asarray(recent, dtype=str))


def events_as_of(events_path: str | Path) -> date:
    """The (UTC) date of the latest event: what the batch's data reaches up to."""
    stamps = _read_events(events_path, ["timestamp"])["timestamp"]
    if stamps.empty:
        return datetime.now(UTC).date()
    latest = pd.Timestamp(stamps.max())
    return (latest.tz_convert("UTC") if latest.tzinfo else latest).date()


# -- scoring -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchResult:
    output: str
    model: str
    version: int | None
    k: int
    chunk_size: int
    users: int
    rows: int
    chunks: int
    chunks_written: int
    chunks_skipped: int
    seconds: float
    engine: str = "local"  # "dask" when the parts were scored as tasks on a cluster

    def to_dict(self) -> dict:
        return asdict(self)


def _users_sha256(users: np.ndarray) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(users), 100_000):
        digest.update(("\n".join(users[start : start + 100_000]) + "\n").encode())
    return digest.hexdigest()


def _check_plan(out: ObjectStore, plan: dict) -> None:
    """Claim the output for ``plan``, or accept it if it already holds the same plan."""
    names = _names(out)
    if PLAN_FILE not in names and any(n.startswith("part-") for n in names):
        raise ShoprecError(
            f"{out.location}: holds Parquet parts but no {PLAN_FILE}; "
            "use another output or delete it"
        )
    if out.create(PLAN_FILE, (json.dumps(plan, indent=2) + "\n").encode()):
        return
    try:
        existing = json.loads(_read(out, PLAN_FILE) or b"")
    except json.JSONDecodeError:
        existing = {}
    differs = [key for key in plan if existing.get(key) != plan[key]]
    if differs:
        raise ShoprecError(
            f"{out.location}: holds another batch (its plan differs in {', '.join(differs)}); "
            "use another output or delete it"
        )


def score_to_parquet(
    model: Recommender,
    user_ids: np.ndarray | list[str],
    output: str | Path,
    k: int,
    chunk_size: int,
    model_name: str,
    version: int | None,
    progress: Progress | None = None,
    fingerprint: str = "",
    client: Client | None = None,
    source: ModelSource | None = None,
    exclude: frozenset[str] = frozenset(),
) -> BatchResult:
    """Write top-``k`` for every user of ``user_ids`` to ``output`` (a folder or
    ``s3://bucket/prefix``) as ``part-NNNNN.parquet``, resuming the parts a previous run with
    the same plan wrote. ``progress(done_chunks, total_chunks)`` is called after each chunk.

    With a Dask ``client`` each missing part is one task (``parts.score_part``): a worker
    loads the model of ``source`` (once per worker process), scores its chunk and writes its
    part itself, whole or absent, byte for byte the part this process would write. The plan
    is written here before any task starts, and ``_SUCCESS.json`` after every task finished;
    ``progress`` is called here as parts finish, in the order they finish.

    ``exclude`` (the deletion list, ids as stored) is left out of every part scored now but
    not of the plan, so a batch planned before a user was forgotten still resumes."""
    if k < 1 or chunk_size < 1:
        raise ShoprecError(f"k and chunk_size must be at least 1 (got {k} and {chunk_size})")
    if client is not None:
        if source is None:
            raise ShoprecError("scoring on a Dask cluster needs the model's folder (source)")
        if fingerprint and fingerprint != source.fingerprint:
            raise ShoprecError(
                f"{source.directory}: its fingerprint is not the one of the batch's model"
            )
        fingerprint = source.fingerprint
    started = time.perf_counter()
    users = np.unique(np.asarray(user_ids, dtype=str))
    unknown = users[model.history.user_positions(users) < 0]
    if len(unknown):
        raise DataError(
            f"{model_name}: {len(unknown)} user id(s) unknown to the model: "
            + ", ".join(unknown[:5])
        )
    n_chunks = math.ceil(len(users) / chunk_size)
    plan = {
        "model": model_name,
        "version": version,
        "model_sha256": fingerprint,
        "k": k,
        "chunk_size": chunk_size,
        "n_users": len(users),
        "users_sha256": _users_sha256(users),
        "n_chunks": n_chunks,
    }
    out = open_output(output)
    out.remove_stale_temporaries()
    _check_plan(out, plan)
    existing = _names(out)
    if client is not None:
        written, skipped, rows = _score_on_cluster(
            client,
            source,
            out,
            users,
            chunk_size,
            existing,
            k,
            model_name,
            version,
            progress,
            exclude,
        )
        return _finish(out, plan, started, len(users), rows, written, skipped, "dask")
    written = skipped = rows = 0
    for i in range(n_chunks):
        name = PART_NAME.format(i)
        if name in existing:
            skipped += 1
            rows += _row_count(out, name)
        else:
            chunk = _kept(users[i * chunk_size : (i + 1) * chunk_size], exclude)
            data, n = chunk_bytes(model, chunk, k, model_name, version)
            out.put(name, data)
            written += 1
            rows += n
        if progress is not None:
            progress(i + 1, n_chunks)
    return _finish(out, plan, started, len(users), rows, written, skipped, "local")


def _kept(chunk: np.ndarray, exclude: frozenset[str]) -> np.ndarray:
    """A chunk's users without the forgotten ones."""
    if not exclude:
        return chunk
    return chunk[~np.isin(chunk, np.asarray(sorted(exclude), dtype=str))]


def _finish(
    out: ObjectStore,
    plan: dict,
    started: float,
    users: int,
    rows: int,
    written: int,
    skipped: int,
    engine: str,
) -> BatchResult:
    """The run's counts, and ``_SUCCESS.json`` written last."""
    result = BatchResult(
        output=out.location,
        model=plan["model"],
        version=plan["version"],
        k=plan["k"],
        chunk_size=plan["chunk_size"],
        users=users,
        rows=rows,
        chunks=plan["n_chunks"],
        chunks_written=written,
        chunks_skipped=skipped,
        seconds=round(time.perf_counter() - started, 3),
        engine=engine,
    )
    success = {**result.to_dict(), "finished_at": datetime.now(UTC).isoformat(), "plan": plan}
    out.put(SUCCESS_FILE, (json.dumps(success, indent=2) + "\n").encode())
    return result


def _score_on_cluster(
    client: Client,
    source: ModelSource,
    out: ObjectStore,
    users: np.ndarray,
    chunk_size: int,
    existing: set[str],
    k: int,
    model_name: str,
    version: int | None,
    progress: Progress | None,
    exclude: frozenset[str] = frozenset(),
) -> tuple[int, int, int]:
    """Every missing part as one task, the parts already there counted here; returns
    ``(written, skipped, rows)``. A failed task cancels the others and raises here (the parts
    finished so far stay: a rerun resumes from them)."""
    from distributed import KilledWorker, as_completed

    n_chunks = math.ceil(len(users) / chunk_size)
    run = uuid.uuid4().hex[:8]
    futures = {}
    for i in range(n_chunks):
        if PART_NAME.format(i) in existing:
            continue
        chunk = _kept(users[i * chunk_size : (i + 1) * chunk_size], exclude)
        future = client.submit(
            score_part,
            i,
            chunk,
            source,
            out.location,
            k,
            model_name,
            version,
            key=f"shoprec-batch-part-{i:05d}-{run}",
            pure=False,
        )
        futures[future] = i
    done = skipped = rows = 0
    try:
        for i in range(n_chunks):  # while the workers score: the parts already there
            if PART_NAME.format(i) in existing:
                skipped += 1
                rows += _row_count(out, PART_NAME.format(i))
                done += 1
                if progress is not None:
                    progress(done, n_chunks)
        for future in as_completed(futures):
            try:
                rows += future.result()
            except KilledWorker as exc:
                raise ShoprecError(
                    f"{out.location}: {PART_NAME.format(futures[future])} killed its Dask "
                    f"workers ({exc}); the parts written so far stay, a rerun resumes"
                ) from None
            done += 1
            if progress is not None:
                progress(done, n_chunks)
    except BaseException:
        client.cancel(list(futures))
        raise
    return len(futures), skipped, rows


# -- the whole batch from params.yaml (shared by the CLI and the Prefect flow) -----------------
def fetch_alias(registry: Registry, name: str, alias: str, destination: str | Path) -> int:
    """Download the version behind ``alias`` into ``destination`` (every sha256 verified)."""
    pointer = registry.alias(name, alias)
    if pointer is None:
        raise ShoprecError(
            f"{registry.store.location}: {name} has no {alias!r} version yet (promote one first)"
        )
    version = int(pointer["version"])
    registry.download(name, version, destination)
    return version


def score_batch(
    settings: BatchScoringParams,
    root: str | Path,
    model_dir: str | Path,
    model_name: str | None = None,
    version: int | None = None,
    output: str | None = None,
    k: int | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    client: Client | None = None,
    registry: str | None = None,
    exclude: frozenset[str] = frozenset(),
) -> BatchResult:
    """Score the active users with the model saved in ``model_dir`` into the run folder
    ``<output>/<as-of>_<model>-v<version>`` (``output`` defaults to ``batch_scoring.output``,
    relative to ``root``).

    With a Dask ``client`` the parts are scored on its workers (``score_to_parquet``); they
    read ``model_dir`` where they can, else fetch ``model_name`` v``version`` from
    ``registry`` (a resolved URI; see ``shoprec.batch_scoring.parts``). Users in ``exclude``
    (the deletion list) get no rows."""
    model = load_model(model_dir)
    name = model_name or model.name
    events = Path(root) / settings.events
    users = active_users(model, events, settings.active_days)
    fingerprint = model_fingerprint(model_dir)
    base = resolve_output(output or settings.output, root)
    location = run_location(base, events_as_of(events), name, version, fingerprint)
    source = None
    if client is not None:
        fetchable = registry is not None and version is not None
        source = ModelSource(
            directory=str(Path(model_dir).resolve()),
            fingerprint=fingerprint,
            registry=registry if fetchable else None,
            name=name if fetchable else None,
            version=version if fetchable else None,
        )
    return score_to_parquet(
        model,
        users,
        location,
        k or settings.k,
        chunk_size or settings.chunk_size,
        name,
        version,
        progress=progress,
        fingerprint=fingerprint,
        client=client,
        source=source,
        exclude=exclude,
    )
