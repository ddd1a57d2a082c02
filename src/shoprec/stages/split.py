"""Stage ``split``: train / validation / test by time (``split.strategy`` in params).

Writes the three parts, ``data/split/cuts.parquet`` (every user's validation and test start:
one pair for all with ``temporal``, each held-out user's own with ``leave_last_out``) and
``reports/split.json``. With ``compute.engine: dask`` the temporal split streams the events
file batch by batch (``shoprec.data.chunked_split``) instead of loading it: the same outputs."""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.data.chunked_split import split_file_temporal
from shoprec.data.split import CUTS_FILE, split_events
from shoprec.io import read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    p = params.split
    if params.compute.engine == "dask" and p.strategy == "temporal":
        return _run_in_batches(params)
    events = read_parquet(layout.VALIDATED / layout.EVENTS_FILE)
    split = split_events(
        events,
        p.strategy,
        p.test_days,
        p.validation_days,
        params.targets.relevant_event_types,
        p.min_holdout_events,
    )
    for name, frame in split.parts().items():
        write_parquet(frame, layout.SPLIT / f"{name}.parquet")
    return _finish(split.cuts, events["user_id"], split.info)


def _finish(cuts, user_ids, info: dict) -> dict:
    write_parquet(cuts.to_frame(user_ids), layout.SPLIT / CUTS_FILE)
    write_json(layout.REPORTS / "split.json", info)
    log.info("split %s: %s", info["strategy"], info["events"])
    return info


def _run_in_batches(params: Params) -> dict:
    source = layout.VALIDATED / layout.EVENTS_FILE
    if not source.exists():
        read_parquet(source)  # the usual "not found (run the stage that writes it first)"
    p = params.split
    info, cuts, users = split_file_temporal(
        source, layout.SPLIT, p.test_days, p.validation_days, params.compute.partition_rows
    )
    return _finish(cuts, users, info)
