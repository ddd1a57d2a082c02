"""Several worker processes behind one port (``shoprec serve --workers N``).

One request of the service is a few hundred microseconds of Python, so one process uses one
core; a second core needs a second process. The parent binds the socket, imports everything,
freezes the garbage collector's view of those objects (so the children's reference counting
does not copy their pages) and forks N children, each running uvicorn on the inherited socket.
Each child loads the model itself through the shared work folder (downloaded, verified and
prepared once, then memory-mapped by all), follows the alias with its own reloader and writes
its metrics to the Prometheus multiprocess folder, which ``/metrics`` aggregates. A child that
dies is replaced; SIGTERM or SIGINT stops them all.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def enable_multiprocess_metrics(directory: str) -> None:
    """Point prometheus-client at ``directory`` for every metric created from now on (it
    picks its value storage when imported, so this sets it again if it already was)."""
    os.environ[MULTIPROC_ENV] = directory
    if "prometheus_client" in sys.modules:
        from prometheus_client import values

        values.ValueClass = values.get_value_class()


def preload(model_name: str) -> None:
    """Import what a worker needs to load and serve ``model_name`` (its model class, Parquet,
    uvicorn's protocol modules) in the parent, so the pages stay shared after the fork. Only
    imports: nothing here starts a thread."""
    import pyarrow.parquet  # noqa: F401
    import uvicorn.loops.auto
    import uvicorn.protocols.http.auto  # noqa: F401

    from shoprec.training.model_table import model_class

    model_class(model_name)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_workers(make_server: Callable[[], object], sock: socket.socket, workers: int) -> None:
    """Fork ``workers`` children that each run ``make_server()`` (a ``uvicorn.Server``) on
    ``sock``; replace a child that exits unexpectedly; stop all on SIGTERM / SIGINT."""
    stopping = False
    children: dict[int, int] = {}  # pid -> slot

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                make_server().run(sockets=[sock])
            except BaseException:
                log.exception("worker %d failed", slot)
                code = 1
            finally:
                os._exit(code)
        children[pid] = slot

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    gc.collect()
    gc.freeze()  # objects made so far stay out of the children's collections: no page copies
    for slot in range(workers):
        spawn(slot)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot = children.pop(pid, None)
        _mark_dead(pid)
        if slot is not None and not stopping:
            log.error("worker %d (pid %d) exited with %s; starting another", slot, pid, status)
            time.sleep(1.0)
            spawn(slot)
    sock.close()


def _mark_dead(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
