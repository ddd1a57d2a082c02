"""The ranker on a Dask cluster: ``xgboost.dask`` over pair blocks that live on the workers.

The caller hands one future per block of query users, each resolving to ``(x, y, qid)`` with
whole query groups sorted by ``qid`` (a user never spans two blocks, so no group is split across
workers). The recipe is ``ranker.train_ranker``'s: the same parameters, early stopping on the same
held-out users (drawn from the same sorted groups with the same seed), then a refit on every group
with the best number of rounds. The result is a plain ``xgb.Booster``: saving, loading and serving
do not change. Each worker trains on its own blocks (row subsampling and the histogram sketch are
per worker), so the trees are close to the local engine's but not identical.

Dask is imported only here, when a client is given (``pip install 'shoprec[dask]'``).
"""

from __future__ import annotations

import logging
import operator
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost as xgb

from shoprec.errors import ConfigError
from shoprec.ranking import ranker

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)


def pick_worker_device(client: Client, requested: str) -> str:
    """``ranker.pick_device`` on the workers, who train: ``cuda`` when every worker's XGBoost
    can use a GPU, else the CPU (an error when ``cuda`` was asked for)."""
    if requested == "cpu":
        return "cpu"
    usable = client.run(ranker.cuda_available)
    if usable and all(usable.values()):
        return "cuda"
    if requested == "cuda":
        raise ConfigError(
            "models.two_stage.device: cuda requested but XGBoost sees no GPU on "
            f"{sum(not ok for ok in usable.values())} of {len(usable)} Dask workers"
        )
    return "cpu"


Part = tuple[np.ndarray, np.ndarray, np.ndarray]  # x, y, qid of one block


def submit_on(client: Client, worker: str, function, *args: Any, **kwargs: Any) -> Future:
    """``function(*args, **kwargs)`` as a task on ``worker`` and no other: which blocks each
    worker trains on is then fixed (block ``i`` on sorted worker ``i mod n``), and so is the
    booster, run to run, instead of following the scheduler's placement and work stealing."""
    return client.submit(
        function, *args, workers=[worker], allow_other_workers=False, pure=False, **kwargs
    )


def _holders(client: Client, parts: list[Future]) -> list[str]:
    who = client.who_has(parts)
    return [min(who[part.key]) for part in parts]


def _summary(part: Part) -> tuple[int, np.ndarray, tuple[np.dtype, ...]]:
    """A block's rows, its query groups and its dtypes (what the client needs to know)."""
    return len(part[1]), np.unique(part[2]), tuple(a.dtype for a in part)


def _take(part: Part, held: np.ndarray, holdout: bool) -> Part:
    """The rows of the held-out groups (``holdout``) or of the others, still sorted by qid."""
    x, y, qid = part
    rows = np.isin(qid, held) == holdout
    return x[rows], y[rows], qid[rows]


def _dmatrix(
    client: Client, parts: list[Future], holders: list[str], summaries: list, names: list[str]
):
    """A ``DaskDMatrix`` of the non-empty blocks, one chunk each, left where it was made."""
    import dask.array as da
    from xgboost import dask as dxgb

    columns: tuple[list, list, list] = ([], [], [])
    for part, worker, (n, _, dtypes) in zip(parts, holders, summaries, strict=True):
        if n == 0:
            continue
        shapes = ((n, len(names)), (n,), (n,))
        for i, (column, shape, dtype) in enumerate(zip(columns, shapes, dtypes, strict=True)):
            piece = submit_on(client, worker, operator.getitem, part, i)
            column.append(da.from_delayed(piece, shape, dtype=dtype))
    x, y, qid = (da.concatenate(column) for column in columns)
    return dxgb.DaskDMatrix(client, x, y, qid=qid, feature_names=names, missing=np.nan)


def train_ranker_dask(
    client: Client,
    parts: list[Future],
    names: list[str],
    booster_params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    holdout_share: float,
    seed: int,
    device: str = "auto",
) -> tuple[xgb.Booster, dict[str, Any]]:
    """``ranker.train_ranker`` with ``xgb.dask.train`` on the blocks ``parts`` (futures of
    ``(x, y, qid)``, every block's groups whole, sorted, and after the previous block's)."""
    from xgboost import dask as dxgb

    device = pick_worker_device(client, device)
    params = {**booster_params, "tree_method": "hist", "device": device, "seed": seed}
    params.setdefault("eval_metric", "ndcg@10")
    holders = _holders(client, parts)
    summaries = client.gather(
        [submit_on(client, w, _summary, part) for part, w in zip(parts, holders, strict=True)]
    )
    groups = np.unique(np.concatenate([g for _, g, _ in summaries]))
    held = ranker.holdout_groups(groups, holdout_share, seed)
    held_groups = client.scatter(groups[held], broadcast=True, hash=False)
    fit_parts, stop_parts = (
        [
            submit_on(client, w, _take, part, held_groups, holdout)
            for part, w in zip(parts, holders, strict=True)
        ]
        for holdout in (False, True)
    )
    sizes = client.gather(
        [
            submit_on(client, w, _summary, part)
            for part, w in zip(fit_parts + stop_parts, holders + holders, strict=True)
        ]
    )
    started = time.perf_counter()
    fit_part = _dmatrix(client, fit_parts, holders, sizes[: len(parts)], names)
    stop_part = _dmatrix(client, stop_parts, holders, sizes[len(parts) :], names)
    out = dxgb.train(
        client,
        params,
        fit_part,
        num_boost_round=num_boost_round,
        evals=[(stop_part, "validation")],  # the stopping set only: the fit set's curve is unused
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    del fit_part, stop_part, fit_parts, stop_parts, held_groups  # free the split copies
    booster: xgb.Booster = out["booster"]
    best_rounds = int(booster.best_iteration) + 1
    metric = params["eval_metric"]
    validation_curve = out["history"]["validation"][metric]
    workers = len(client.nthreads())
    log.info(
        "ranker (dask, %d workers): best %s %.4f on %d held-out users after %d rounds (%s, %.1f s)",
        workers,
        metric,
        validation_curve[best_rounds - 1],
        int(held.sum()),
        best_rounds,
        device,
        time.perf_counter() - started,
    )
    full = _dmatrix(client, parts, holders, summaries, names)
    refit = dxgb.train(client, params, full, num_boost_round=best_rounds, verbose_eval=False)
    booster = refit["booster"]
    pairs = sum(n for n, _, _ in summaries)
    report = ranker.fit_report(
        params, pairs, len(groups), held, best_rounds, validation_curve, started
    )
    return booster, report
