# shoprec — every target sets itself up first: a virtual environment in .venv
# with the locked dependencies (requirements.lock) and the package itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export KERAS_HOME := $(CURDIR)/$(VENV)/keras

.PHONY: setup run repro flow test lint format bench lock clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@echo ">> creating $(VENV) and installing the locked dependencies"
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

## run: the whole pipeline end to end on params.yaml (synthetic shop by default), the metrics
## table, then the evaluation gate: a model that passes is registered, pending approval
run: setup
	dvc repro
	shoprec metrics
	shoprec registry propose --by "$$(whoami)" || echo "not registered: see the message above"

## repro: dvc repro only (skips unchanged stages)
repro: setup
	dvc repro

## flow: the same pipeline as a Prefect flow (temporary local Prefect API unless PREFECT_API_URL is set),
## then the gate; a model that passes waits for approval (shoprec registry approve from another terminal)
flow: setup
	shoprec flow train

## test: the test suite
test: setup
	$(PY) -m pytest -q --durations=15

## lint: ruff (lint + format) and the import contracts of docs/architecture.md (import-linter)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: baseline quality and speed on the real dataset in ../shared/datasets
bench: setup
	$(PY) benchmarks/baselines.py

## lock: re-resolve requirements.lock after changing pyproject.toml
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra dask --python-version 3.11 --universal -o requirements.lock

clean:
	rm -rf data models metrics reports .pytest_cache
