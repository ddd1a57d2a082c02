"""Keep the service on the version behind the alias, without downtime and without risk.

A background thread polls the registry alias. When it points at a new version, that version is
downloaded (every checksum verified), loaded and warmed up *beside* the one being served, then
swapped in with one reference assignment: a request in flight finishes on the version it
started with. A version that fails to download, verify or load is refused, counted, and not
retried until the alias moves again; the old version keeps serving.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from shoprec.registry import Registry
from shoprec.serving.engine import ServedModel

log = logging.getLogger(__name__)


class ModelHolder:
    """The version being served (``current``) and the loop that replaces it."""

    def __init__(
        self,
        registry: Registry,
        name: str,
        alias: str,
        items_path: str | Path | None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.alias = alias
        self.items_path = items_path
        self.current: ServedModel | None = None
        self.last_error: str | None = None
        self._refused: int | None = None
        # listeners the app sets (metrics, sessions): called after a swap / a refused version
        self.on_reload: Callable[[ServedModel], None] = lambda served: None
        self.on_failure: Callable[[int, Exception], None] = lambda version, exc: None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="shoprec-serve-"))
        self._lock = threading.Lock()  # one reload at a time

    def refresh(self) -> bool:
        """Check the alias once; load a new version if it moved. True when a swap happened."""
        with self._lock:
            try:
                pointer = self.registry.alias(self.name, self.alias)
            except Exception as exc:  # the registry is unreachable: keep serving what we have
                self.last_error = f"cannot read alias {self.alias}: {exc}"
                log.warning("%s", self.last_error)
                return False
            if pointer is None:
                self.last_error = f"{self.name} has no {self.alias} alias yet"
                return False
            version = int(pointer["version"])
            current = self.current.version if self.current else None
            if version == current or version == self._refused:
                return False
            target = self._workdir / f"v{version}"
            try:
                shutil.rmtree(target, ignore_errors=True)
                self.registry.download(self.name, version, target)  # verifies every sha256
                served = ServedModel.load(target, self.name, version, self.items_path)
            except Exception as exc:
                self._refused = version
                self.last_error = f"{self.name} v{version} refused: {exc}"
                log.error("%s; still serving v%s", self.last_error, current)
                self.on_failure(version, exc)
                shutil.rmtree(target, ignore_errors=True)
                return False
            old = self.current
            self.current = served  # the swap: one reference assignment
            self._refused = None
            self.last_error = None
            log.info("%s: now serving v%d (was v%s)", self.name, version, current)
            self.on_reload(served)
            if old is not None and old.version is not None:
                shutil.rmtree(self._workdir / f"v{old.version}", ignore_errors=True)
            return True

    def start(self, poll_interval_s: float) -> None:
        def loop() -> None:
            while not self._stop.wait(poll_interval_s):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="shoprec-reloader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        shutil.rmtree(self._workdir, ignore_errors=True)
