"""User ids replaced by a keyed HMAC-SHA256, at ingest and in the service.

The same key gives the same pseudonym everywhere (ingest, service, batch outputs), so data,
models and answers join up without the raw id ever being stored. The key comes from
``SHOPREC_ID_KEY`` or a key file named in params, never from params itself; it is not logged
and not written anywhere. Rotating it changes every pseudonym (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from shoprec.config import PrivacyParams
from shoprec.errors import ConfigError

KEY_ENV = "SHOPREC_ID_KEY"
PREFIX = "p_"  # a pseudonym is "p_" and 32 hex digits (128 bits of the HMAC)
DIGITS = 32
MIN_KEY_BYTES = 16


class Pseudonymiser:
    """``pseudonym = "p_" + HMAC-SHA256(key, user_id)[:32 hex]``; ids already pseudonymised
    are not touched twice (so an id from a batch output maps to itself)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"the user-id key is too short ({len(key)} bytes; at least {MIN_KEY_BYTES}): "
                f"set {KEY_ENV} or privacy.key_file to a long random secret"
            )
        self._key = key

    def __repr__(self) -> str:  # never the key
        return f"Pseudonymiser(key_id={self.key_id})"

    @property
    def key_id(self) -> str:
        """A short public fingerprint of the key (recorded to tell keys apart, not the key)."""
        return hashlib.sha256(b"shoprec-key-id:" + self._key).hexdigest()[:12]

    @staticmethod
    def is_pseudonym(user_id: str) -> bool:
        if len(user_id) != len(PREFIX) + DIGITS or not user_id.startswith(PREFIX):
            return False
        return all(c in "0123456789abcdef" for c in user_id[len(PREFIX) :])

    def __call__(self, user_id: str) -> str:
        if self.is_pseudonym(user_id):
            return user_id
        digest = hmac.new(self._key, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:DIGITS]

    def many(self, user_ids: Iterable[str] | np.ndarray) -> np.ndarray:
        """The pseudonyms of ``user_ids`` (an object array, same order), each distinct id
        hashed once; missing values (None, NaN, pandas NA) stay missing."""
        values = np.asarray(list(user_ids) if not isinstance(user_ids, np.ndarray) else user_ids,
                            dtype=object)  # fmt: skip
        out = np.empty(len(values), dtype=object)
        cache: dict[str, str] = {}
        for i, value in enumerate(values):
            if not isinstance(value, str) and pd.isna(value):
                out[i] = value
                continue
            text = str(value)
            found = cache.get(text)
            if found is None:
                found = cache[text] = self(text)
            out[i] = found
        return out


def load_key(privacy: PrivacyParams, root: str | Path = ".") -> bytes:
    """The key: ``SHOPREC_ID_KEY`` (its UTF-8 bytes) or the contents of ``privacy.key_file``
    (project-relative, surrounding whitespace stripped); missing is one clear error."""
    value = os.environ.get(KEY_ENV)
    if value:
        return value.encode("utf-8")
    if privacy.key_file is not None:
        path = Path(root) / privacy.key_file
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"privacy.key_file: cannot read the user-id key at {path} ({exc.strerror})"
            ) from None
        if key:
            return key
        raise ConfigError(f"privacy.key_file: {path} is empty")
    raise ConfigError(
        "privacy.pseudonymise_users is on but there is no key: set the environment variable "
        f"{KEY_ENV} or name a key file in privacy.key_file (docs/privacy.md)"
    )


def pseudonymiser(privacy: PrivacyParams, root: str | Path = ".") -> Pseudonymiser | None:
    """The project's pseudonymiser, or None when ``privacy.pseudonymise_users`` is off."""
    if not privacy.pseudonymise_users:
        return None
    return Pseudonymiser(load_key(privacy, root))
