"""Train the two-stage model on a split, the way the pipeline and the benchmarks do.

The ranker learns at the validation start (T1) and ranks at the test start (T2), each user's
own (``inputs.cuts``: one pair for everybody with ``split.strategy: temporal``, the times of
the user's held-out validation and test targets with ``leave_last_out``):

1. At T1: the sources are fit on the events before T1 (ItemKNN, EASE, co-visitation; the
   two-tower vectors of its first fit, embedded at T1), the snapshot is taken at T1, and the
   candidates of the users with validation-period events are labelled by those events
   (purchase > add-to-cart > view). No feature sees an event at or after T1; no label an event
   at or after T2.
2. XGBoost learns on those groups with early stopping on held-out users' NDCG.
3. At T2: the same sources are fit again on the events before T2 (the two-tower vectors of its
   refit), with a snapshot at T2. That is what the saved model ranks with.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shoprec.compute import trim_memory
from shoprec.config import EASEParams, ItemKNNParams, TwoStageParams
from shoprec.data.split import Cuts
from shoprec.errors import DataError
from shoprec.evaluation.metrics import hits_matrix
from shoprec.features.interactions import Interactions
from shoprec.models.base import top_k
from shoprec.models.ease import EASE
from shoprec.models.embedding import EmbeddingRecommender
from shoprec.models.itemknn import ItemKNN
from shoprec.models.sequential.recommender import SequentialRecommender
from shoprec.ranking import ranker
from shoprec.ranking.candidates import (
    CONTENT_SOURCES,
    CandidateSources,
    generate_candidates,
    mean_recall,
    per_user_recall,
)
from shoprec.ranking.covisitation import covisitation, covisitation_of_keys, session_keys
from shoprec.ranking.pair_features import feature_names, pair_features
from shoprec.ranking.snapshot import build_snapshot, cell_matrix
from shoprec.ranking.two_stage import TwoStageRecommender
from shoprec.training.inputs import TrainingInputs

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

BATCH_USERS = 1024
COLD_K = 20  # the cold-item recall that picks the source cold items keep their rank from


def build_sources(
    history: Interactions,
    events: pd.DataFrame,
    items: pd.DataFrame,
    cut: pd.Timestamp | pd.DatetimeIndex,
    params: TwoStageParams,
    itemknn: ItemKNNParams,
    ease: EASEParams,
    event_weights: dict[str, float],
    two_tower: EmbeddingRecommender | None,
    sequential: SequentialRecommender | None = None,
    client: Client | None = None,
) -> CandidateSources:
    """Fit every active source on ``history`` / the events before ``cut`` (one moment, or
    one per history user, aligned with ``history.user_ids``). With a Dask ``client`` the two
    item-to-item neighbourhoods (ItemKNN, co-visitation) are fitted as tasks on the workers
    while this process takes the snapshot: the same matrices, at once."""
    if isinstance(cut, pd.Timestamp):
        before = (events["timestamp"] < cut).to_numpy(bool)
    elif len(cut) == 0:  # nobody has a cut: nothing is before it
        before = np.zeros(len(events), dtype=bool)
    else:  # each event before its user's cut; users outside the history: the latest cut
        cuts = pd.DatetimeIndex(cut)
        rows = history.user_positions(events["user_id"])
        own = cuts[np.where(rows >= 0, rows, 0)].where(rows >= 0, cuts.max())
        before = (events["timestamp"] < own).to_numpy(bool)
        del rows, own
    events = _rows(events, before)  # the training events at T1 are already before it
    sizes = params.candidates.model_dump()
    if two_tower is None:
        sizes["two_tower"] = 0
    elif not (
        np.array_equal(two_tower.history.user_ids, history.user_ids)
        and np.array_equal(two_tower.history.item_ids, history.item_ids)
    ):
        raise DataError(
            "two_stage: the two-tower vectors belong to another history; re-run the "
            "train_two_tower stage (dvc repro)"
        )
    if sequential is None:
        sizes["sequential"] = 0
    elif not (
        np.array_equal(sequential.history.user_ids, history.user_ids)
        and np.array_equal(sequential.history.item_ids, history.item_ids)
    ):
        raise DataError(
            "two_stage: the sequential model belongs to another history; re-run the "
            "train_sequential stage (dvc repro)"
        )
    covisit_args = (params.session_gap_minutes, params.covisit_neighbors, params.covisit_shrinkage)
    on_workers = {}
    if client is not None:
        client.run(trim_memory)  # what earlier tasks (the ranker's pairs, its fit) freed
        if sizes["itemknn"]:
            on_workers["itemknn"] = client.submit(
                _itemknn, client.scatter(history, hash=False), itemknn, pure=False
            )
        if sizes["covisit"]:  # the worker gets the events' integer keys, not their text
            keys = client.scatter(session_keys(events, history.item_ids), hash=False)
            on_workers["covisit"] = client.submit(
                covisitation_of_keys, keys, len(history.item_ids), *covisit_args, pure=False
            )
            del keys
    snapshot = build_snapshot(
        events,
        items,
        history,
        cut,
        event_weights,
        params.popularity_windows_days,
        params.recency_half_life_days,
    )
    sources = CandidateSources(history=history, snapshot=snapshot, sizes=sizes)
    if "itemknn" in on_workers:
        sources.itemknn = on_workers.pop("itemknn").result()
    elif sizes["itemknn"]:
        sources.itemknn = _itemknn(history, itemknn)
    if sizes["ease"]:
        sources.ease = EASE(**ease.model_dump()).fit(history).weights
    if "covisit" in on_workers:
        sources.covisit = on_workers.pop("covisit").result()
    elif sizes["covisit"]:
        sources.covisit = covisitation(events, history.item_ids, *covisit_args)
    if client is not None:
        client.run(trim_memory)
    if sizes["two_tower"]:
        sources.user_vectors = two_tower.user_embeddings
        sources.item_vectors = two_tower.item_embeddings
    if sizes["sequential"]:
        sources.sequence_user_vectors = sequential.user_embeddings
        sources.sequence_item_vectors = sequential.item_embeddings
    return sources


def _rows(events: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``events[keep]``, without copying tens of millions of rows when all are kept."""
    return events if keep.all() else events[keep]


# what the sources and the snapshot read of the events (session_id: where the data has it)
SOURCE_COLUMNS = ("user_id", "item_id", "event_type", "timestamp", "session_id")


def _source_events(*frames: pd.DataFrame) -> pd.DataFrame:
    """The frames one after another, only the columns the sources read (a copy of 5 of the
    events' columns rather than all of them)."""
    columns = [c for c in SOURCE_COLUMNS if c in frames[0].columns]
    return pd.concat([f[columns] for f in frames], ignore_index=True)


def _itemknn(history: Interactions, params: ItemKNNParams) -> sp.csr_matrix:
    return ItemKNN(**params.model_dump()).fit(history).similarity


def graded_labels(
    events: pd.DataFrame,
    history: Interactions,
    grades: dict[str, int],
    exclude: sp.csr_matrix | None = None,
) -> sp.csr_matrix:
    """Users × items: the highest grade of each (user, item) in ``events`` (0: none).

    Pairs in ``exclude`` (items the user already had, when repeats do not count) get 0.
    """
    rows = history.user_positions(events["user_id"])
    cols = history.item_positions(events["item_id"])
    grade = events["event_type"].map(grades).fillna(0).to_numpy(dtype=np.float32)
    keep = (rows >= 0) & (cols >= 0) & (grade > 0)
    labels = cell_matrix(rows[keep], cols[keep], grade[keep], history.shape, "max")
    if exclude is not None:
        seen = exclude.copy()
        seen.data[:] = 1.0
        labels = labels - labels.multiply(seen)
    labels = sp.csr_matrix(labels)
    labels.eliminate_zeros()
    return labels


def training_pairs(
    sources: CandidateSources,
    labels: sp.csr_matrix,
    relevant: sp.csr_matrix,
    users: np.ndarray,
    exclude_seen: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
    """Features, labels and query ids of every candidate of ``users``, and candidate recall
    on ``relevant`` (the pairs the evaluation would count as targets)."""
    xs, ys, qids, recall = [], [], [], []
    for start in range(0, len(users), BATCH_USERS):
        batch = users[start : start + BATCH_USERS]
        x, y, qid, batch_recall = _batch_pairs(
            sources, batch, labels[batch], relevant[batch], exclude_seen
        )
        xs.append(x)
        ys.append(y)
        qids.append(qid)
        recall.append(batch_recall)
    names = feature_names(sources.snapshot.windows)
    if not xs:
        return np.zeros((0, len(names)), np.float32), np.zeros(0), np.zeros(0, np.int64), {}
    return np.vstack(xs), np.concatenate(ys), np.concatenate(qids), mean_recall(recall)


def _batch_pairs(
    sources: CandidateSources,
    batch: np.ndarray,
    labels: sp.csr_matrix,
    relevant: sp.csr_matrix,
    exclude_seen: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """One batch of users (``labels`` and ``relevant``: their rows): features, labels, query
    ids (sorted) and per-user candidate recall."""
    candidates = generate_candidates(sources, batch, exclude_seen=exclude_seen)
    x = pair_features(sources.snapshot, batch, candidates)
    y = np.asarray(labels[candidates.user, candidates.item]).ravel()
    return x, y, batch[candidates.user], per_user_recall(candidates, relevant)


# -- the Dask engine: one task per block of query users, the pairs left on the workers -----
BLOCKS_PER_WORKER = 2


def _labelled_block(
    batch: np.ndarray,
    labels: sp.csr_matrix,
    relevant: sp.csr_matrix,
    shared: CandidateSources,
    users: dict[str, Any],
    exclude_seen: bool,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[dict, np.ndarray, int, int]]:
    """On a worker: a block's pairs of the users with a labelled candidate (whole groups, the
    same rows the local engine keeps), and its summary: recall, those users, their pairs and
    positive pairs. ``shared`` holds the per-item sources, ``users`` the block's own rows
    (``CandidateSources.user_rows(batch)``), so no task carries the whole history."""
    sources = shared.with_user_rows(users)
    local = np.arange(len(batch))
    x, y, qid, recall = _batch_pairs(sources, local, labels, relevant, exclude_seen)
    qid = batch[qid]  # the block's own rows back to history rows
    positive_groups = np.unique(qid[y > 0])
    keep = np.isin(qid, positive_groups)
    summary = (recall, positive_groups, int(keep.sum()), int((y[keep] > 0).sum()))
    return (x[keep], y[keep], qid[keep]), summary


def _block_users(n_users: int, workers: int) -> int:
    """Users per block: at most ``BATCH_USERS``, and enough blocks to keep every worker busy."""
    return max(1, min(BATCH_USERS, -(-n_users // (BLOCKS_PER_WORKER * max(1, workers)))))


def training_blocks_on_dask(
    client: Client,
    sources: CandidateSources,
    labels: sp.csr_matrix,
    relevant: sp.csr_matrix,
    users: np.ndarray,
    exclude_seen: bool,
) -> tuple[list[Future], dict[str, float], np.ndarray, int, int]:
    """``training_pairs`` as Dask tasks, groups without a labelled candidate dropped: one
    future of ``(x, y, qid)`` per block of users (kept on its worker), candidate recall, the
    labelled query users, their pairs and positive pairs. The per-item sources go to every
    worker once; each task carries only its own users' rows of the per-user ones."""
    import operator

    from shoprec.ranking.dask_ranker import submit_on

    workers = sorted(client.nthreads())
    block = _block_users(len(users), len(workers))
    batches = [users[start : start + block] for start in range(0, len(users), block)]
    on = [workers[i % len(workers)] for i in range(len(batches))]  # block i: worker i mod n
    shared = client.scatter(sources.without_users(), broadcast=True, hash=False)
    blocks = [
        submit_on(
            client,
            w,
            _labelled_block,
            batch,
            labels[batch],
            relevant[batch],
            shared,
            sources.user_rows(batch),
            exclude_seen,
        )
        for w, batch in zip(on, batches, strict=True)
    ]
    parts = [submit_on(client, w, operator.getitem, b, 0) for w, b in zip(on, blocks, strict=True)]
    summaries = client.gather(
        [submit_on(client, w, operator.getitem, b, 1) for w, b in zip(on, blocks, strict=True)]
    )
    del blocks, shared  # the pairs stay in ``parts``; the sources leave the workers
    recall = mean_recall([s[0] for s in summaries])
    groups = np.concatenate([s[1] for s in summaries]) if summaries else np.zeros(0, np.int64)
    return parts, recall, groups, sum(s[2] for s in summaries), sum(s[3] for s in summaries)


def _window(cuts: Cuts) -> dict[str, str]:
    """Where the ranker's features end and its labels begin and end, for the report."""
    if cuts.is_global:
        t1, t2 = str(cuts.validation_start), str(cuts.test_start)
        return {"features_before": t1, "labels_from": t1, "labels_before": t2}
    own = "each user's own validation start (the held-out validation target)"
    return {
        "features_before": own,
        "labels_from": own,
        "labels_before": "each user's own test start (the held-out test target)",
        "latest_validation_start": str(cuts.latest_validation),
    }


def pick_cold_source(
    sources: CandidateSources,
    users: np.ndarray,
    relevant: sp.csr_matrix,
    exclude_seen: bool,
    k: int = COLD_K,
) -> tuple[str | None, dict[str, float]]:
    """The content-aware source with the best recall@k on the validation targets that are
    cold items (no history at the validation cut), and each one's recall."""
    cold = sources.snapshot.item_users[-1] == 0
    active = [s for s in CONTENT_SOURCES if s in sources.active]
    if not active:
        return None, {}
    targets = sp.csr_matrix(relevant[users].multiply(cold[None, :].astype(np.float32)))
    total = targets.nnz
    recall = {}
    for source in active:
        hits = 0
        for start in range(0, len(users), BATCH_USERS):
            batch = users[start : start + BATCH_USERS]
            scores = sources.scores(source, batch).astype(np.float32, copy=True)
            if exclude_seen:
                seen_r, seen_c = sources.history.matrix[batch].nonzero()
                scores[seen_r, seen_c] = -np.inf
            idx, _ = top_k(scores, k)
            hits += int(hits_matrix(idx, targets[start : start + BATCH_USERS]).sum())
        recall[source] = round(hits / total, 6) if total else 0.0
    return max(active, key=lambda s: recall[s]), recall


def fit_two_stage(
    inputs: TrainingInputs,
    params: TwoStageParams,
    itemknn: ItemKNNParams,
    ease: EASEParams,
    two_tower_at_validation: EmbeddingRecommender | None = None,
    two_tower_at_test: EmbeddingRecommender | None = None,
    sequential_at_validation: SequentialRecommender | None = None,
    sequential_at_test: SequentialRecommender | None = None,
    client: Client | None = None,
) -> tuple[TwoStageRecommender, dict[str, Any]]:
    """Learn the ranker at the validation start, then assemble the model at the test start.

    With a Dask ``client`` (``compute.engine: dask``) the candidates and pair features of the
    query users are Dask tasks, one per block of users, and the ranker trains on the workers
    with ``xgboost.dask`` (``ranking.dask_ranker``); the report then says ``"engine": "dask"``.
    Without one (``None``) everything runs in this process."""
    started = time.perf_counter()
    items, event_weights = inputs.items, inputs.event_weights
    before_validation, before_test = inputs.before_validation, inputs.before_test
    cuts = inputs.cuts
    relevant_event_types = inputs.targets.relevant_event_types
    repeat_purchases = inputs.targets.repeat_purchases
    train, validation = inputs.train, inputs.validation
    train = _rows(train, cuts.before_validation(train))
    validation = _rows(validation, cuts.in_validation(validation))
    if cuts.is_global:
        t1, t2 = cuts.validation_start, cuts.test_start
    else:
        t1 = cuts.validation_at(before_validation.user_ids)
        t2 = cuts.test_at(before_test.user_ids)
    exclude_seen = not repeat_purchases
    args = (params, itemknn, ease, event_weights)
    at_t1 = build_sources(
        before_validation,
        train,
        items,
        t1,
        *args,
        two_tower_at_validation,
        sequential_at_validation,
        client,
    )
    seen = None if repeat_purchases else before_validation.matrix
    labels = graded_labels(validation, before_validation, params.label_grades, seen)
    relevant_grades = {t: 1 for t in relevant_event_types}
    relevant = graded_labels(validation, before_validation, relevant_grades, seen)
    users = np.flatnonzero(np.diff(labels.indptr) > 0)
    rng = np.random.default_rng(params.seed)
    if len(users) > params.max_query_users:
        users = np.sort(rng.choice(users, params.max_query_users, replace=False))
    if client is None:
        x, y, qid, recall = training_pairs(at_t1, labels, relevant, users, exclude_seen)
        positive_groups = np.unique(qid[y > 0])
        keep = np.isin(qid, positive_groups)
        n_pairs, n_positive = int(keep.sum()), int((y[keep] > 0).sum())
    else:
        parts, recall, positive_groups, n_pairs, n_positive = training_blocks_on_dask(
            client, at_t1, labels, relevant, users, exclude_seen
        )
    if len(positive_groups) < 2:
        more_data = (
            "lengthen split.validation_days"
            if cuts.is_global
            else "lower split.min_holdout_events (more held-out users)"
        )
        raise DataError(
            "two_stage: fewer than 2 users have a validation-period event on one of their "
            f"candidates, so the ranker has nothing to learn from; {more_data} or raise "
            "models.two_stage.candidates"
        )
    log.info(
        "two_stage: %d query users (%d with a labelled candidate), %d pairs; candidate "
        "recall at the validation start: %s",
        len(users),
        len(positive_groups),
        n_pairs,
        ", ".join(f"{k} {v:.3f}" for k, v in recall.items()),
    )
    b = params.booster
    booster_params = b.model_dump(exclude={"eval_k", "num_boost_round", "early_stopping_rounds"})
    booster_params["eval_metric"] = f"ndcg@{b.eval_k}"
    names = feature_names(at_t1.snapshot.windows)
    train_args = (
        names,
        booster_params,
        b.num_boost_round,
        b.early_stopping_rounds,
        params.holdout_share,
        params.seed,
        params.device,
    )
    if client is None:
        booster, fit_report = ranker.train_ranker(x[keep], y[keep], qid[keep], *train_args)
        del x, y, qid, keep
    else:
        from shoprec.ranking.dask_ranker import train_ranker_dask

        booster, fit_report = train_ranker_dask(client, parts, *train_args)
        del parts  # the pairs leave the workers
    cold_source, cold_recall = pick_cold_source(at_t1, users, relevant, exclude_seen)
    active = at_t1.active
    del at_t1, labels, relevant  # the sources at T1 are done with before T2's are built
    at_t2 = build_sources(
        before_test,
        _source_events(train, validation),
        items,
        t2,
        *args,
        two_tower_at_test,
        sequential_at_test,
        client,
    )
    model = TwoStageRecommender.from_parts(
        at_t2,
        booster,
        **params.model_dump(mode="json"),
        cold_items_source=cold_source if params.cold_items_at_source_rank else None,
    )
    report = {
        "ranker_window": _window(cuts),
        "active_sources": active,
        "cold_items": {
            "source": cold_source if params.cold_items_at_source_rank else None,
            f"validation_recall@{COLD_K}": cold_recall,
        },
        "candidate_recall_at_validation": recall,
        "query_users": len(users),
        "labelled_query_users": len(positive_groups),
        "pairs": n_pairs,
        "positive_pairs": n_positive,
        "ranker": fit_report,
        "feature_importance": ranker.feature_importance(booster, names),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if client is not None:
        report["engine"] = "dask"
    return model, report
