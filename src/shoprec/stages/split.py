"""Stage ``split``: train / validation / test by time (``split.strategy`` in params).

Writes the three parts, ``data/split/cuts.parquet`` (every user's validation and test start:
one pair for all with ``temporal``, each held-out user's own with ``leave_last_out``) and
``reports/split.json``."""

from __future__ import annotations

import logging

from shoprec import layout
from shoprec.config import Params
from shoprec.data.split import CUTS_FILE, split_events
from shoprec.io import read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    events = read_parquet(layout.VALIDATED / layout.EVENTS_FILE)
    p = params.split
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
    write_parquet(split.cuts.to_frame(events["user_id"]), layout.SPLIT / CUTS_FILE)
    write_json(layout.REPORTS / "split.json", split.info)
    log.info("split %s: %s", p.strategy, split.info["events"])
    return split.info
