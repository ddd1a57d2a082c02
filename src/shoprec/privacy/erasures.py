"""The deletion list: users who asked to be forgotten, one JSON object each.

``shoprec privacy forget`` adds an entry; ingest quarantines the events of every listed user
(reason ``erased``), the service stops answering from their state, and batch outputs drop
them. An entry holds the id as shoprec stores it: the pseudonym when pseudonymisation is on
(the raw id is never written), else the raw id. Entries are only ever added.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shoprec.config import PrivacyParams
from shoprec.storage import NotFound, ObjectStore, create_if_absent, open_store

PREFIX = "erased/"


def _key(stored_id: str) -> str:
    return f"{PREFIX}{hashlib.sha256(stored_id.encode('utf-8')).hexdigest()}.json"


@dataclass(frozen=True)
class Erasure:
    user_id: str  # as stored by shoprec (the pseudonym when pseudonymisation is on)
    by: str
    reason: str
    requested_at: str


class ErasureList:
    """The deletion list on a folder or S3 store (create-if-absent: concurrent requests for
    the same user keep the first entry)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @classmethod
    def open(cls, privacy: PrivacyParams, root: str | Path = ".") -> ErasureList:
        uri = privacy.erasures
        location = uri if "://" in uri else Path(root) / uri
        return cls(open_store(location))

    def add(self, stored_id: str, by: str, reason: str) -> tuple[Erasure, bool]:
        """Record a request; returns the entry and whether it is new."""
        entry = Erasure(stored_id, by, reason, datetime.now(UTC).isoformat(timespec="seconds"))
        data = json.dumps(entry.__dict__, sort_keys=True).encode("utf-8")
        if create_if_absent(self.store, _key(stored_id), data):
            return entry, True
        return self.get(stored_id) or entry, False

    def get(self, stored_id: str) -> Erasure | None:
        try:
            return Erasure(**json.loads(self.store.get(_key(stored_id)).data))
        except NotFound:
            return None

    def keys(self) -> list[str]:
        """The entries' keys: a cheap change token for a poller (entries are only added)."""
        return sorted(self.store.list(PREFIX))

    def entries(self) -> list[Erasure]:
        return [Erasure(**json.loads(self.store.get(key).data)) for key in self.keys()]

    def ids(self) -> frozenset[str]:
        """Every listed id, as stored by shoprec."""
        return frozenset(e.user_id for e in self.entries())
