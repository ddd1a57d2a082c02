"""Object stores: an S3 bucket (boto3) or a local folder, used by the model registry and by
batch scoring alike.

Every write is whole or absent (a local temporary file fsync'ed and renamed into place, or one
S3 ``put_object``). Both give the two primitives the registry's concurrency rules rest on
(DESIGN.md, Registry):

- ``put(key, data, if_none_match=True)``: create only if the key is absent (S3
  ``If-None-Match: *``), so two writers can never claim the same version number;
- ``put(key, data, if_match=etag)``: replace only if nobody changed the object since it was
  read (S3 ``If-Match``), so an alias moves by compare-and-swap.

A failed condition raises ``PreconditionFailed``; callers re-read and retry.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shoprec.errors import ShoprecError


class StorageError(ShoprecError):
    """The store cannot be reached, refuses the credentials, or holds something invalid."""


class PreconditionFailed(Exception):
    """A conditional write lost: the key exists, or changed since it was read."""


class NotFound(StorageError):
    """No object under this key."""


@dataclass(frozen=True)
class Stored:
    data: bytes
    etag: str


class ObjectStore(Protocol):
    location: str

    def get(self, key: str) -> Stored: ...

    def put(
        self, key: str, data: bytes, if_none_match: bool = False, if_match: str | None = None
    ) -> str: ...

    def list(self, prefix: str) -> list[str]: ...

    def create(self, key: str, data: bytes) -> bool: ...

    def remove_stale_temporaries(self) -> None: ...


def create_if_absent(store: ObjectStore, key: str, data: bytes) -> bool:
    """Write ``key`` only if it does not exist yet; False if it did."""
    try:
        store.put(key, data, if_none_match=True)
    except PreconditionFailed:
        return False
    return True


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _etag(data: bytes) -> str:
    """What S3 returns for a single-part upload: the quoted MD5."""
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


class LocalStore:
    """A folder; safe between processes of one machine (O_EXCL links and a lock per key).

    Writes go to a hidden temporary sibling named with the writer's pid, fsync'ed, then linked
    or renamed into place: a killed writer leaves no half object, only a temporary file that
    ``remove_stale_temporaries`` deletes once that pid is gone."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.location = str(self.root)
        if self.root.exists() and not self.root.is_dir():
            raise StorageError(f"{self.root}: exists and is not a folder")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StorageError(f"key escapes the store's folder: {key!r}")
        return path

    @staticmethod
    def _temporary(path: Path, data: bytes) -> Path:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    def get(self, key: str) -> Stored:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"{self.location}: no {key}") from None
        return Stored(data, _etag(data))

    def put(
        self, key: str, data: bytes, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temporary(path, data)
        try:
            if if_none_match:
                try:
                    os.link(tmp, path)  # atomic: fails if the name exists
                except FileExistsError:
                    raise PreconditionFailed(key) from None
            elif if_match is not None:
                # compare-and-swap: the read and the rename under one lock per key (a key
                # that moves by CAS is only ever written by CAS)
                with open(path.with_name(f".{path.name}.lock"), "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    current = _etag(path.read_bytes()) if path.exists() else None
                    if current != if_match:
                        raise PreconditionFailed(key)
                    os.replace(tmp, path)
            else:
                os.replace(tmp, path)  # atomic: readers see the old object or the new one
        finally:
            tmp.unlink(missing_ok=True)
        return _etag(data)

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def create(self, key: str, data: bytes) -> bool:
        return create_if_absent(self, key, data)

    def remove_stale_temporaries(self) -> None:
        """Temporary files of writers that are no longer running (a killed run's last write)."""
        if not self.root.is_dir():
            return
        for tmp in self.root.rglob(".*.tmp"):
            pid = tmp.name.rsplit(".", 3)[-3]
            if not (pid.isdigit() and pid_alive(int(pid))):
                tmp.unlink(missing_ok=True)


CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AccessDenied",
}


class S3Store:
    """``s3://bucket/prefix`` through boto3: endpoint from ``AWS_ENDPOINT_URL`` (any
    S3-compatible server), credentials from the standard AWS chain, bounded retries."""

    def __init__(self, uri: str, retries: int = 3, timeout_s: float = 5.0) -> None:
        import boto3
        from botocore.config import Config

        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?", uri)
        if not match:
            raise StorageError(f"not an S3 registry URI: {uri!r} (expected s3://bucket/prefix)")
        self.bucket, prefix = match.group(1), (match.group(2) or "").strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.location = uri
        config = Config(
            retries={"max_attempts": retries, "mode": "standard"},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            s3={"addressing_style": "path"},
        )
        # a session of its own: credentials are read now, and creating clients from the
        # shared default session is not thread-safe
        self.client = boto3.session.Session().client("s3", config=config)

    def _call(self, what: str, func, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return func(Bucket=self.bucket, **kwargs)
        except NoCredentialsError:
            raise StorageError(
                f"{self.location}: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or a profile)"
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
                raise PreconditionFailed(kwargs.get("Key", "")) from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"{self.location}: no {kwargs.get('Key', '')}") from None
            message = exc.response.get("Error", {}).get("Message", code)
            if code in CREDENTIAL_ERRORS:
                raise StorageError(
                    f"{self.location}: {what} refused, the credentials were not accepted "
                    f"({code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile"
                ) from None
            raise StorageError(f"{self.location}: {what} refused: {code}: {message}") from None
        except BotoCoreError as exc:
            raise StorageError(f"{self.location}: {what} failed: {exc}") from None

    def get(self, key: str) -> Stored:
        reply = self._call("read", self.client.get_object, Key=self.prefix + key)
        return Stored(reply["Body"].read(), reply["ETag"])

    def put(
        self, key: str, data: bytes, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        extra = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        elif if_match is not None:
            extra["IfMatch"] = if_match
        reply = self._call(
            "write", self.client.put_object, Key=self.prefix + key, Body=data, **extra
        )
        return reply["ETag"]

    def list(self, prefix: str) -> list[str]:
        keys, token = [], None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            reply = self._call(
                "list", self.client.list_objects_v2, Prefix=self.prefix + prefix, **extra
            )
            keys += [item["Key"][len(self.prefix) :] for item in reply.get("Contents", [])]
            if not reply.get("IsTruncated"):
                return sorted(keys)
            token = reply["NextContinuationToken"]

    def create(self, key: str, data: bytes) -> bool:
        return create_if_absent(self, key, data)

    def remove_stale_temporaries(self) -> None:
        """Nothing to do: an object is stored whole or not at all."""


def open_store(uri: str | Path, timeout_s: float = 5.0) -> ObjectStore:
    """``s3://bucket/prefix`` or a local folder path."""
    text = str(uri)
    if text.startswith("s3://"):
        return S3Store(text.rstrip("/"), timeout_s=timeout_s)
    return LocalStore(text)
