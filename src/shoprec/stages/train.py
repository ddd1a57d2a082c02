"""Stage ``train@<model>``: fit one model on the interactions before the test period."""

from __future__ import annotations

import logging
import time

from shoprec import layout
from shoprec.config import Params
from shoprec.errors import ConfigError
from shoprec.features.interactions import Interactions
from shoprec.io import read_parquet
from shoprec.training.model_table import BASELINES, create_model

log = logging.getLogger(__name__)


def run(params: Params, model_name: str = "") -> str:
    if model_name not in BASELINES:
        raise ConfigError(f"train: name a model to train, one of {', '.join(BASELINES)}")
    history = Interactions.load(layout.BEFORE_TEST)
    items = read_parquet(layout.VALIDATED / layout.ITEMS_FILE)
    hyper = getattr(params.models, model_name).model_dump()
    started = time.perf_counter()
    model = create_model(model_name, **hyper).fit(history, items)
    log.info(
        "%s fitted in %.2f s on %d users × %d items",
        model_name,
        time.perf_counter() - started,
        *history.shape,
    )
    model.save(layout.MODELS / model_name)
    return model_name
