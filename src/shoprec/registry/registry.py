"""The model registry: versions with checksummed manifests, decisions, aliases and an audit log.

Layout (DESIGN.md, Registry), the same on S3 and in a folder::

    <model>/versions/<n>/claim.json       claimed by conditional create: n is never reused
    <model>/versions/<n>/files/...        the model's files
    <model>/versions/<n>/manifest.json    written last: sha256 of every file, metrics, params,
                                          data hashes, git commit, gate result
    <model>/versions/<n>/checks/<c>.json  checks after upload (servability), once each
    <model>/versions/<n>/decision.json    approve / reject, once, by conditional create
    <model>/aliases/<alias>.json          {version, history}: moved by compare-and-swap
    <model>/audit/<time>-<id>.json        append-only: who did what, when, why

A version without a manifest is incomplete (an upload that died half-way) and is never listed as
complete, approved, promoted or loaded. Loading re-computes every checksum.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shoprec.storage import NotFound, ObjectStore, PreconditionFailed, StorageError

# the registry's errors are the store's: one type for a caller to catch
RegistryError = StorageError

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ALIAS_PATTERN = NAME_PATTERN
MAX_CAS_ATTEMPTS = 200


def check_name(name: str, what: str = "model name") -> str:
    """Refuse anything but a plain lowercase name: no ``/``, ``..``, spaces or prefixes."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise RegistryError(
            f"invalid {what} {name!r}: use 1–64 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode()


@dataclass
class VersionInfo:
    model: str
    version: int
    complete: bool
    decision: str | None  # approved | rejected | None (pending)
    manifest: dict[str, Any] | None

    @property
    def status(self) -> str:
        if not self.complete:
            return "incomplete"
        return self.decision or "pending"


class Registry:
    """Register, decide, promote, roll back, verify and fetch model versions."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # -- keys ---------------------------------------------------------------------------
    @staticmethod
    def _version_key(name: str, version: int, leaf: str) -> str:
        return f"{check_name(name)}/versions/{int(version)}/{leaf}"

    def _read_json(self, key: str) -> tuple[dict[str, Any], str]:
        stored = self.store.get(key)
        try:
            return json.loads(stored.data), stored.etag
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RegistryError(f"{self.store.location}: {key} is not valid JSON") from None

    # -- audit --------------------------------------------------------------------------
    def audit(self, name: str, action: str, by: str, reason: str = "", **details: Any) -> None:
        event = {
            "time": _now(),
            "model": name,
            "action": action,
            "by": by,
            "reason": reason,
            **details,
        }
        key = f"{check_name(name)}/audit/{event['time']}-{uuid.uuid4().hex[:12]}.json"
        self.store.put(key, _json(event), if_none_match=True)

    def audit_log(self, name: str) -> list[dict[str, Any]]:
        events = [self._read_json(k)[0] for k in self.store.list(f"{check_name(name)}/audit/")]
        return sorted(events, key=lambda e: e["time"])

    # -- versions -----------------------------------------------------------------------
    def models(self) -> list[str]:
        names = {key.split("/", 1)[0] for key in self.store.list("")}
        return sorted(n for n in names if NAME_PATTERN.fullmatch(n))

    def _version_numbers(self, name: str) -> list[int]:
        numbers = set()
        for key in self.store.list(f"{check_name(name)}/versions/"):
            part = key.split("/")[2]
            if part.isdigit():
                numbers.add(int(part))
        return sorted(numbers)

    def register(
        self,
        name: str,
        directory: str | Path,
        by: str,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Upload every file of ``directory`` as a new version; returns its number.

        The number is claimed first (conditional create, retried upwards on conflict), the files
        are uploaded, and the manifest with their sha256 is written last.
        """
        check_name(name)
        directory = Path(directory)
        files = sorted(p for p in directory.rglob("*") if p.is_file())
        if not files:
            raise RegistryError(f"{directory}: no model files to register")
        version = self._claim(name, by)
        checksums = {}
        for path in files:
            relative = path.relative_to(directory).as_posix()
            data = path.read_bytes()
            checksums[relative] = hashlib.sha256(data).hexdigest()
            self.store.put(self._version_key(name, version, f"files/{relative}"), data)
        manifest = {
            "model": name,
            "version": version,
            "registered_at": _now(),
            "registered_by": by,
            "files": checksums,
            **(metadata or {}),
        }
        self.store.put(
            self._version_key(name, version, "manifest.json"), _json(manifest), if_none_match=True
        )
        self.audit(name, "register", by, version=version)
        return version

    def _claim(self, name: str, by: str) -> int:
        numbers = self._version_numbers(name)
        candidate = (numbers[-1] if numbers else 0) + 1
        for _ in range(MAX_CAS_ATTEMPTS):
            claim = {"claimed_at": _now(), "by": by, "id": uuid.uuid4().hex}
            try:
                self.store.put(
                    self._version_key(name, candidate, "claim.json"),
                    _json(claim),
                    if_none_match=True,
                )
                return candidate
            except PreconditionFailed:
                candidate += 1
        raise RegistryError(f"{name}: could not claim a version number (too much contention)")

    def info(self, name: str, version: int) -> VersionInfo:
        try:
            self.store.get(self._version_key(name, version, "claim.json"))
        except NotFound:
            raise RegistryError(f"{name}: no version {version}") from None
        try:
            manifest, _ = self._read_json(self._version_key(name, version, "manifest.json"))
        except NotFound:
            manifest = None
        try:
            decision, _ = self._read_json(self._version_key(name, version, "decision.json"))
        except NotFound:
            decision = {}
        return VersionInfo(
            name, int(version), manifest is not None, decision.get("decision"), manifest
        )

    def versions(self, name: str) -> list[VersionInfo]:
        return [self.info(name, v) for v in self._version_numbers(name)]

    # -- checks -------------------------------------------------------------------------
    def record_check(self, name: str, version: int, check: str, result: dict[str, Any]) -> None:
        """Record the outcome of a check on a complete version (once per check)."""
        check_name(check, "check name")
        payload = {**result, "time": _now()}
        try:
            self.store.put(
                self._version_key(name, version, f"checks/{check}.json"),
                _json(payload),
                if_none_match=True,
            )
        except PreconditionFailed:
            raise RegistryError(f"{name} v{version}: {check} was already recorded") from None
        self.audit(name, f"check_{check}", "shoprec", version=int(version), passed=result["passed"])

    def check(self, name: str, version: int, check: str) -> dict[str, Any] | None:
        try:
            return self._read_json(self._version_key(name, version, f"checks/{check}.json"))[0]
        except NotFound:
            return None

    # -- decisions ----------------------------------------------------------------------
    def decide(self, name: str, version: int, decision: str, by: str, reason: str) -> None:
        """Record ``approved`` or ``rejected`` for a complete version, once."""
        if decision not in ("approved", "rejected"):
            raise RegistryError(f"unknown decision {decision!r}")
        if not by.strip() or not reason.strip():
            raise RegistryError("a decision needs who made it (--by) and why (--reason)")
        info = self.info(name, version)
        if not info.complete:
            raise RegistryError(f"{name} v{version} is incomplete (no manifest): cannot decide")
        servable = self.check(name, version, "servability")
        if decision == "approved" and not (servable and servable.get("passed")):
            raise RegistryError(
                f"{name} v{version} has not passed the servability check (its files, read back "
                "from the registry, must load and recommend as before upload)"
            )
        record = {"decision": decision, "by": by, "reason": reason, "time": _now()}
        try:
            self.store.put(
                self._version_key(name, version, "decision.json"), _json(record), if_none_match=True
            )
        except PreconditionFailed:
            raise RegistryError(
                f"{name} v{version} was already {self.info(name, version).decision}"
            ) from None
        action = {"approved": "approve", "rejected": "reject"}[decision]
        self.audit(name, action, by, reason, version=int(version))

    # -- aliases ------------------------------------------------------------------------
    def alias(self, name: str, alias: str = "production") -> dict[str, Any] | None:
        key = f"{check_name(name)}/aliases/{check_name(alias, 'alias')}.json"
        try:
            return self._read_json(key)[0]
        except NotFound:
            return None

    def _move_alias(self, name: str, alias: str, change, by: str, reason: str, action: str) -> int:
        """Compare-and-swap loop: read the alias and its ETag, compute the new document, write
        it only if nobody moved the alias in between; on a lost race, read again."""
        key = f"{check_name(name)}/aliases/{check_name(alias, 'alias')}.json"
        for _ in range(MAX_CAS_ATTEMPTS):
            try:
                current, etag = self._read_json(key)
            except NotFound:
                current, etag = {"version": None, "history": []}, None
            new = change(current)
            try:
                if etag is None:
                    self.store.put(key, _json(new), if_none_match=True)
                else:
                    self.store.put(key, _json(new), if_match=etag)
            except PreconditionFailed:
                continue
            self.audit(
                name,
                action,
                by,
                reason,
                alias=alias,
                version=new["version"],
                previous=current["version"],
            )
            return new["version"]
        raise RegistryError(f"{name}: could not move alias {alias} (too much contention)")

    def promote(
        self, name: str, version: int, by: str, reason: str = "", alias: str = "production"
    ) -> int:
        """Point ``alias`` at an approved, complete version."""
        check_name(alias, "alias")
        info = self.info(name, version)
        if info.status != "approved":
            raise RegistryError(
                f"{name} v{version} is {info.status}: only an approved version can be promoted"
            )

        def change(current: dict[str, Any]) -> dict[str, Any]:
            history = list(current.get("history", []))
            if current.get("version") is not None:
                history.append(current["version"])
            return {"version": int(version), "history": history, "time": _now(), "by": by}

        return self._move_alias(name, alias, change, by, reason, "promote")

    def rollback(self, name: str, by: str, reason: str = "", alias: str = "production") -> int:
        """Point ``alias`` back at the version it held before."""

        def change(current: dict[str, Any]) -> dict[str, Any]:
            history = list(current.get("history", []))
            if not history:
                raise RegistryError(f"{name}: alias {alias} has no earlier version to go back to")
            return {"version": history.pop(), "history": history, "time": _now(), "by": by}

        return self._move_alias(name, alias, change, by, reason, "rollback")

    # -- reading models back ------------------------------------------------------------
    def verify(self, name: str, version: int) -> dict[str, str]:
        """Re-compute every file's sha256; returns ``{file: problem}`` (empty when intact)."""
        info = self.info(name, version)
        if not info.complete:
            return {"manifest.json": "missing: the upload never finished"}
        problems = {}
        listed = set(info.manifest["files"])
        prefix = self._version_key(name, version, "files/")
        stored = {k[len(prefix) :] for k in self.store.list(prefix)}
        for extra in sorted(stored - listed):
            problems[extra] = "not in the manifest"
        for relative, expected in info.manifest["files"].items():
            try:
                data = self.store.get(prefix + relative).data
            except NotFound:
                problems[relative] = "missing"
                continue
            if hashlib.sha256(data).hexdigest() != expected:
                problems[relative] = "sha256 mismatch"
        return problems

    def download(self, name: str, version: int, destination: str | Path) -> Path:
        """Fetch a complete version into ``destination``, refusing any file whose checksum
        does not match the manifest (nothing is left behind then)."""
        info = self.info(name, version)
        if not info.complete:
            raise RegistryError(f"{name} v{version} is incomplete (no manifest): refusing it")
        destination = Path(destination)
        prefix = self._version_key(name, version, "files/")
        fetched = {}
        for relative, expected in info.manifest["files"].items():
            data = self.store.get(prefix + relative).data
            if hashlib.sha256(data).hexdigest() != expected:
                raise RegistryError(
                    f"{name} v{version}: {relative} does not match its sha256 in the manifest; "
                    "refusing to load a tampered or corrupt model"
                )
            fetched[relative] = data
        for relative, data in fetched.items():
            path = destination / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return destination
