"""Shared fixtures: a tiny shoprec project in a temporary git + DVC repository (built and
reproduced once per session, copied for each test), one Prefect API for the session, a local
S3 server, a small synthetic shop with the two-stage and two-tower models fit on it once, and
the guard that keeps ``pytest -m "not slow"`` free of TensorFlow training, DVC and Prefect runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from tests import tiny
from tests.projects import dvc, make_project

# The template is reproduced in a background thread from the end of collection on (one
# `dvc repro`, about a minute, mostly one core), while the unit tests run on the other core;
# the tests that use it run last (see pytest_collection_modifyitems).
TEMPLATE_FIXTURES = ("tiny_project", "tiny_project_template")
TEMPLATE_THREAD = "shoprec-template"
_template: dict = {}


def _build_template(root: Path) -> Path:
    project = make_project(root / "shop")
    dvc(project, "repro")
    return project


def _uses_template(item) -> bool:
    return any(name in getattr(item, "fixturenames", ()) for name in TEMPLATE_FIXTURES)


def pytest_collection_finish(session):
    if session.config.option.collectonly or not any(map(_uses_template, session.items)):
        return
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    root = Path(tempfile.mkdtemp(prefix="shoprec-template-"))
    pool = ThreadPoolExecutor(1, thread_name_prefix=TEMPLATE_THREAD)
    _template.update(root=root, pool=pool, future=pool.submit(_build_template, root))


def pytest_sessionfinish(session):
    if "future" in _template:
        _template["future"].cancel()
        _template["pool"].shutdown(wait=True)
        shutil.rmtree(_template["root"], ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_project_template(tmp_path_factory) -> Path:
    """A tiny project on which `dvc repro` has run once (copy it before changing it)."""
    if "future" in _template:
        return _template["future"].result(timeout=1200)
    return _build_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def tiny_project(tiny_project_template, tmp_path) -> Path:
    """A private copy of the reproduced tiny project (DVC cache included)."""
    target = tmp_path / "shop"
    shutil.copytree(tiny_project_template, target, symlinks=True)
    return target


# -- a temporary Prefect API, one for the whole session --------------------------------------
@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """Every flow test shares one API (server start-up is the slow part); tests tell their
    runs and artifacts apart by their own project, registry and newest artifact."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


# -- a local S3-compatible server (moto's), over real HTTP ----------------------------------
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "shoprec-test",
    "AWS_SECRET_ACCESS_KEY": "shoprec-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3-compatible HTTP server for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    for key, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return s3_endpoint


def new_bucket(endpoint: str) -> str:
    bucket = f"shoprec-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, **client_credentials()).create_bucket(Bucket=bucket)
    return bucket


def client_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


# -- a small synthetic shop and the models fit on it, once per session --------------------------
@pytest.fixture(scope="session")
def tiny_shop() -> dict:
    """500 users, 300 items, 28 days, split 14/7/7 (see tests/tiny.py)."""
    return tiny.make_shop()


@pytest.fixture(scope="session")
def two_stage_fit(tiny_shop):
    """``(model, report)``: the two-stage model on ``tiny_shop``, stand-in two-tower vectors."""
    return tiny.fit_tiny_two_stage(tiny_shop)


@pytest.fixture(scope="session")
def two_tower_shop() -> dict:
    """A shop large enough (1,000 users) for a five-epoch two-tower fit to beat popularity."""
    return tiny.make_shop(users=1000)


@pytest.fixture(scope="session")
def two_tower_fit(two_tower_shop):
    """``(model, report, at_validation)`` of ``fit_two_tower`` on ``two_tower_shop`` (TensorFlow:
    only for tests marked slow)."""
    from shoprec.config import TwoTowerParams
    from shoprec.training.two_tower import fit_two_tower

    # batch 128 is 512 on a GPU (× 4 there): still enough steps to beat popularity
    params = TwoTowerParams(embedding_dim=16, history_length=8, batch_size=128, epochs=5)
    return fit_two_tower(tiny.training_inputs(two_tower_shop), params)


@pytest.fixture(scope="session")
def sequential_fit(tiny_shop):
    """``(model, report, at_validation)`` of ``fit_sequential`` on ``tiny_shop`` (TensorFlow:
    only for tests marked slow)."""
    from shoprec.config import SequentialParams
    from shoprec.training.sequential import fit_sequential

    params = SequentialParams(
        embedding_dim=16, max_length=10, blocks=1, heads=2, epochs=3, batch_size=64
    )
    return fit_sequential(tiny.training_inputs(tiny_shop), params)


# -- slow means slow: what a test not marked slow may not do ---------------------------------
# Tests of the two-tower network train TensorFlow in every module; their files are another
# engineer's, so they are marked here.
TENSORFLOW_TEST_PATHS = ("tests/models/two_tower/", "tests/models/sequential/")
HEAVY_MODULES = ("tensorflow", "keras")


def _excludes_slow(config) -> bool:
    """Whether ``-m`` leaves out every test marked slow (``-m "not slow"``)."""
    expr = config.getoption("markexpr") or ""
    if not expr or " or " in f" {expr} ":
        return False
    try:
        from _pytest.mark.expression import Expression

        return not Expression.compile(expr).evaluate(lambda name, **kwargs: name == "slow")
    except Exception:
        return expr.replace(" ", "") == "notslow"


def pytest_ignore_collect(collection_path, config):
    """With ``-m "not slow"`` the TensorFlow test modules are not even imported (their
    helpers import TensorFlow at module level: seconds of collection for nothing)."""
    if not _excludes_slow(config):
        return None
    root = Path(__file__).resolve().parent.parent
    try:
        where = collection_path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None
    where += "/" if collection_path.is_dir() else ""
    return any(where == p or where.startswith(p) for p in TENSORFLOW_TEST_PATHS) or None


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).resolve().parent.parent
    for item in items:
        where = Path(str(item.path)).resolve().relative_to(root).as_posix()
        if any(where == p or where.startswith(p) for p in TENSORFLOW_TEST_PATHS):
            item.add_marker(pytest.mark.slow)
    # modules that use the reproduced template run last, each module kept together
    late = {item.module.__name__ for item in items if _uses_template(item)}
    items.sort(key=lambda item: item.module.__name__ in late)


class SlowOnly(Exception):
    """A test that is not marked slow trained TensorFlow, ran DVC or ran a Prefect flow."""


# What the running fast test is (None: none, or a slow one) and what it did that it may not.
# Set from the start of its setup (before any fixture of any scope) to the end of its teardown.
_guarded: dict = {"test": None, "violations": []}


def _refuse(what: str) -> None:
    import threading

    test = _guarded["test"]
    if test is None or threading.current_thread().name.startswith(TEMPLATE_THREAD):
        return
    _guarded["violations"].append(what)
    raise SlowOnly(f"{test} {what} but is not marked @pytest.mark.slow")


class _HeavyImportGuard:
    """While a fast test runs, importing TensorFlow or Keras fails it (nothing in shoprec
    imports them but two-tower training)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY_MODULES:
            _refuse(f"imports {name}")
        return None


sys.meta_path.insert(0, _HeavyImportGuard())


def _runs_dvc_or_a_prefect_server(args) -> str | None:
    argv = [str(a) for a in ([args] if isinstance(args, str | os.PathLike) else list(args))]
    if not argv:
        return None
    if Path(argv[0]).name == "dvc" or argv[:3][1:] == ["-m", "dvc"]:
        return "runs dvc"
    if any("prefect" in a and "server" in a for a in argv) or "prefect.server" in " ".join(argv):
        return "starts a Prefect server"
    return None


_popen_init = subprocess.Popen.__init__


def _guarded_popen_init(self, args, *rest, **kwargs):
    what = _runs_dvc_or_a_prefect_server(args)
    if what is not None:
        _refuse(what)
    _popen_init(self, args, *rest, **kwargs)


subprocess.Popen.__init__ = _guarded_popen_init


def _guard_loaded_libraries() -> None:
    """TensorFlow training and Prefect flow runs, once their modules are loaded (by a slow
    test: a fast one may not import TensorFlow at all)."""
    tf = sys.modules.get("tensorflow")
    tape = getattr(tf, "GradientTape", None)
    if tape is not None and not getattr(tape.__enter__, "_shoprec_guard", False):
        enter = tape.__enter__

        def guarded_enter(self, *args, **kwargs):
            _refuse("trains TensorFlow")
            return enter(self, *args, **kwargs)

        guarded_enter._shoprec_guard = True
        tape.__enter__ = guarded_enter
    flows = sys.modules.get("prefect.flows")
    flow = getattr(flows, "Flow", None)
    if flow is not None and not getattr(flow.__call__, "_shoprec_guard", False):
        call = flow.__call__

        def guarded_call(self, *args, **kwargs):
            _refuse("runs a Prefect flow")
            return call(self, *args, **kwargs)

        guarded_call._shoprec_guard = True
        flow.__call__ = guarded_call


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _guard_loaded_libraries()
    fast = item.get_closest_marker("slow") is None
    _guarded.update(test=item.nodeid if fast else None, violations=[])
    if fast and "prefect_api" in item.fixturenames:
        pytest.fail(f"{item.nodeid} uses a Prefect API but is not marked @pytest.mark.slow")


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    _guarded["test"] = None


@pytest.fixture(autouse=True)
def _slow_means_slow(request):
    """Fail a test that is not marked slow when it trains TensorFlow, runs DVC or a Prefect
    flow (even when the code under test caught the error): ``pytest -m "not slow"`` must stay
    fast and free of them."""
    yield
    if _guarded["violations"]:
        what = ", ".join(sorted(set(_guarded["violations"])))
        pytest.fail(f"{request.node.nodeid} is not marked slow but {what}")


# -- registries on both backends ------------------------------------------------------------------
@pytest.fixture(params=["local", "s3"])
def registry_uri(request, tmp_path):
    """A fresh, empty registry location on each backend."""
    if request.param == "local":
        return str(tmp_path / "registry")
    endpoint = request.getfixturevalue("s3_env")
    return f"s3://{new_bucket(endpoint)}/models"


@pytest.fixture
def fake_model_dir(tmp_path) -> Path:
    """A folder of random bytes shaped like a saved model (the registry never reads them)."""
    folder = tmp_path / "model"
    (folder / "history").mkdir(parents=True)
    (folder / "card.json").write_text('{"model": "two_stage"}\n')
    (folder / "arrays.npz").write_bytes(os.urandom(4096))
    (folder / "history" / "ids.npz").write_bytes(os.urandom(1024))
    return folder


# -- batch scoring --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def batch_shop(tmp_path_factory):
    """A fitted ItemKNN on 600 users × 150 items, saved, with its events file."""
    from tests.batches import fit_itemknn, synthetic_events

    folder = tmp_path_factory.mktemp("batch-shop")
    events = synthetic_events(600, 150)
    events.to_parquet(folder / "events.parquet", index=False)
    model = fit_itemknn(events, 150)
    model.save(folder / "model")
    return {"model": model, "events": folder / "events.parquet", "dir": folder / "model"}


# -- a real Dask cluster: two worker processes over TCP on loopback, one for the session -----
@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of a ``distributed.LocalCluster`` (2 processes × 1 thread, 127.0.0.1);
    tests connect with ``ComputeParams(engine="dask", address=...)``."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        memory_limit="3GiB",
    )
    yield cluster.scheduler_address
    cluster.close()
