"""The id of one request: the caller's ``X-Request-ID`` when it is a sane short token, else a
new one, so an impression can be joined with the shop's own logs of the same page view.

"Sane" keeps what a caller sends out of the impressions log unless it looks like an id (letters,
digits and ``. _ : -``, at most 64 characters); anything else is replaced, not rejected.
"""

from __future__ import annotations

import re
import uuid

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
MAX_LENGTH = 64
SANE = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,%d}" % (MAX_LENGTH - 1))


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The request id for an ASGI request's raw ``headers``."""
    for name, value in headers:
        if name == _HEADER_KEY:  # ASGI servers send header names lower-cased
            if SANE.fullmatch(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex
