"""Users who asked to be forgotten, as the service sees them: the deletion list, polled.

``shoprec privacy forget`` adds an entry to the deletion list (``privacy.erasures``). The service
cannot wait for the next training run to honour it, so a background thread reads the list's
keys every ``privacy.poll_interval_s`` (one listing; entries are only ever added) and reads only
the entries it has not seen. From then on every version the service loads treats those users as
unknown (``ServedModel.recommend`` and ``knows_user`` check this set before any of the model's
per-user state is read), and ``on_forget`` drops their live sessions. A list that cannot be read
is logged and read again at the next poll; what was already known stays forgotten.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from shoprec.privacy.erasures import ErasureList

log = logging.getLogger(__name__)
ERASED = "erased"  # the user id an impression of a forgotten user is logged with


class ForgottenUsers:
    """The set of stored user ids (pseudonyms when pseudonymisation is on) on the deletion
    list; ``user_id in forgotten`` is a set lookup, safe from any thread."""

    def __init__(
        self,
        erasures: ErasureList | None = None,
        on_forget: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        self.erasures = erasures
        self.on_forget = on_forget or (lambda ids: None)
        self._ids: frozenset[str] = frozenset()
        self._seen_keys: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one refresh at a time
        self.last_error: str | None = None

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> frozenset[str]:
        return self._ids

    def refresh(self) -> frozenset[str]:
        """Read the list once; returns the ids that are new since the last read (and hands
        them to ``on_forget``)."""
        if self.erasures is None:
            return frozenset()
        with self._lock:
            try:
                keys = set(self.erasures.keys())
                new = {
                    json.loads(self.erasures.store.get(key).data)["user_id"]
                    for key in sorted(keys - self._seen_keys)
                }
            except Exception as exc:  # unreachable or half-written: keep what we know
                self.last_error = f"cannot read the deletion list: {exc}"
                log.warning("%s; trying again at the next poll", self.last_error)
                return frozenset()
            self._seen_keys = keys
            self.last_error = None
            added = frozenset(new - self._ids)
            if not added:
                return added
            self._ids = self._ids | added  # one reference assignment: readers see old or new
            log.info("deletion list: %d user(s) forgotten, %d in all", len(added), len(self._ids))
        self.on_forget(added)
        return added

    def start(self, poll_interval_s: float) -> ForgottenUsers:
        if self.erasures is not None and self._thread is None:

            def loop() -> None:
                while not self._stop.wait(poll_interval_s):
                    self.refresh()

            self._thread = threading.Thread(target=loop, name="shoprec-erasures", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
