"""One fitted tiny two-tower model, shared by the network and saving tests."""

from __future__ import annotations

import time

import pytest

from tests.models.two_tower.shop import fit, make_examples, make_items


@pytest.fixture(scope="package")
def data():
    items = make_items()
    users, positives, weights, trained = make_examples(items)
    return items, users, positives, weights, trained


@pytest.fixture(scope="package")
def fitted_run(data):
    """``(model, history, seconds)``: the default small fit (4 epochs, no validation) and
    the wall-clock seconds its ``fit`` call took."""
    start = time.perf_counter()
    model, history = fit(data)
    return model, history, time.perf_counter() - start


@pytest.fixture(scope="package")
def fitted(fitted_run):
    """``(model, history)`` of :func:`fitted_run`."""
    model, history, _ = fitted_run
    return model, history
