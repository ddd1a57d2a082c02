"""Fit every model switched on in ``train:`` from one ``TrainingInputs``, in memory.

The DVC stages fit one model each and hand them over as files; a cross-validation fold (and a
benchmark) needs the same models on its own split without touching ``models/``. This runs the
same recipes in the same order: the baselines on the history before the test cut, then the
two-tower and sequential models, then the two-stage model with those two as its sources.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shoprec.config import Params
from shoprec.models.base import Recommender
from shoprec.training.inputs import TrainingInputs
from shoprec.training.model_table import create_model

log = logging.getLogger(__name__)


@dataclass
class FittedModels:
    """The models by name (in ``train.evaluated()`` order), each one's fit seconds, reports."""

    models: dict[str, Recommender] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


def fit_every_model(
    inputs: TrainingInputs,
    params: Params,
    on_model: Callable[[str], None] | None = None,
) -> FittedModels:
    """Every model of ``params.train.evaluated()`` fitted on ``inputs``.

    ``on_model(name)`` is called before each fit (progress). The two-tower and sequential
    models are fitted when they are switched on, as in ``dvc repro``; the two-stage model uses
    each as a candidate source only when it is on and its candidate count is above zero.
    """
    out = FittedModels()
    wanted = params.train.evaluated()
    at_validation: dict[str, Recommender] = {}

    def timed(name: str, fit: Callable[[], Any]) -> Any:
        if on_model is not None:
            on_model(name)
        started = time.perf_counter()
        result = fit()
        out.seconds[name] = round(time.perf_counter() - started, 2)
        log.info("%s fitted in %.1f s", name, out.seconds[name])
        return result

    for name in params.train.models:
        hyper = getattr(params.models, name).model_dump()
        out.models[name] = timed(
            name, lambda n=name, h=hyper: create_model(n, **h).fit(inputs.before_test, inputs.items)
        )
    if "two_tower" in wanted:
        from shoprec.training.two_tower import fit_two_tower

        model, report, first = timed(
            "two_tower", lambda: fit_two_tower(inputs, params.models.two_tower)
        )
        out.models["two_tower"], out.reports["two_tower"] = model, report
        at_validation["two_tower"] = first
    if "sequential" in wanted:
        from shoprec.training.sequential import fit_sequential

        model, report, first = timed(
            "sequential", lambda: fit_sequential(inputs, params.models.sequential)
        )
        out.models["sequential"], out.reports["sequential"] = model, report
        at_validation["sequential"] = first
    if "two_stage" in wanted:
        from shoprec.training.two_stage import fit_two_stage

        model, report = timed(
            "two_stage",
            lambda: fit_two_stage(
                inputs,
                params.models.two_stage,
                params.models.itemknn,
                params.models.ease,
                two_tower_at_validation=at_validation.get("two_tower"),
                two_tower_at_test=out.models.get("two_tower"),
                sequential_at_validation=at_validation.get("sequential"),
                sequential_at_test=out.models.get("sequential"),
            ),
        )
        out.models["two_stage"], out.reports["two_stage"] = model, report
    return out
