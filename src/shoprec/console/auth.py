"""Who may sign in to the console and what they may do.

The users file (``console.users_file`` in params.yaml; never committed with real users) is
JSON: ``{"users": {name: {"role": "reviewer" | "read-only", "password": argon2 hash,
"tokens": [argon2 hash, ...]}}}``. Passwords and tokens are stored only as argon2id hashes
(``argon2-cffi``). A browser signs in with HTTP Basic (its own dialog); a script sends
``Authorization: Bearer <token>``, where a token is ``<name>.<secret>`` so that only that user's
hashes are tried. A verified secret is remembered in memory (by its SHA-256) for as long as the
stored hash is unchanged, so argon2's deliberate cost is paid once per process, not per page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shoprec.errors import ConfigError

REVIEWER = "reviewer"
READ_ONLY = "read-only"
ROLES = (REVIEWER, READ_ONLY)
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def may_decide(self) -> bool:
        return self.role == REVIEWER


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name or ""):
        raise ConfigError(
            f"invalid user name {name!r}: 1–64 letters, digits, '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"users": {}}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{path}: the console's users file is not valid JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("users", {}), dict):
        raise ConfigError(f"{path}: expected {{'users': {{name: {{...}}}}}}")
    raw.setdefault("users", {})
    return raw


def _write(path: Path, document: dict[str, Any]) -> None:
    """Whole or not at all, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def add_user(path: Path, name: str, role: str, password: str | None = None) -> None:
    """Create or update ``name`` with ``role``; a given password replaces the stored one."""
    check_user_name(name)
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: {' or '.join(ROLES)}")
    if password is not None and not password:
        raise ConfigError("an empty password is not allowed")
    document = _read(path)
    entry = document["users"].setdefault(name, {"tokens": []})
    entry["role"] = role
    if password is not None:
        entry["password"] = hash_secret(password)
    _write(path, document)


def mint_token(path: Path, name: str) -> str:
    """A new bearer token for an existing user: returned once, stored only as its hash."""
    document = _read(path)
    if name not in document["users"]:
        raise ConfigError(f"{path}: no user {name!r}; add them first")
    token = f"{name}.{secrets.token_urlsafe(32)}"
    document["users"][name].setdefault("tokens", []).append(hash_secret(token))
    _write(path, document)
    return token


class UserStore:
    """The users file, re-read when it changes, and the check of presented credentials."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, dict[str, Any]] = {}
        self._verified: dict[tuple[str, str], str] = {}  # (name, sha256 of secret) → hash

    def users(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._users = _read(self.path)["users"] if stamp else {}
                self._stamp = stamp
            return self._users

    def _matches(self, name: str, secret: str, hashes: list[str]) -> bool:
        key = (name, hashlib.sha256(secret.encode()).hexdigest())
        remembered = self._verified.get(key)
        if remembered is not None and remembered in hashes:
            return True
        for stored in hashes:
            try:
                _hasher.verify(stored, secret)
            except (VerificationError, InvalidHashError):
                continue
            with self._lock:
                if len(self._verified) > 1000:
                    self._verified.clear()
                self._verified[key] = stored
            return True
        return False

    def _user(self, name: str, secret: str, kind: str) -> User | None:
        entry = self.users().get(name)
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            return None
        hashes = [entry["password"]] if kind == "password" and entry.get("password") else []
        if kind == "token":
            hashes = list(entry.get("tokens") or [])
        return User(name, entry["role"]) if self._matches(name, secret, hashes) else None

    def authenticate(self, authorization: str | None) -> tuple[User | None, str]:
        """The user an ``Authorization`` header names, or None; and its scheme (``basic``,
        ``bearer`` or "" when there is no usable header)."""
        if not authorization or " " not in authorization:
            return None, ""
        scheme, _, value = authorization.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None, "basic"
            name, sep, password = decoded.partition(":")
            if not sep:
                return None, "basic"
            return self._user(name, password, "password"), "basic"
        if scheme == "bearer":
            name, sep, _ = value.partition(".")
            if not sep:
                return None, "bearer"
            return self._user(name, value, "token"), "bearer"
        return None, ""
