"""The storage contract and its errors (kinds of the one error model in ``function.errors``).

Errors are split by what the caller should do: ``StorageUnavailable`` is retryable (the event layer
answers 503 so the broker redelivers later), ``ObjectNotFound`` is the caller's data being wrong
(a referenced input that does not exist: permanent), ``StorageConfigError`` is a deployment mistake found
at start-up (missing bucket, bad credentials) that keeps the pod from turning ready. Library errors
(botocore, OSError) are translated into these in the backend that calls the library.

A leaf: imports nothing of ours but ``function.errors`` and ``function.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from function.errors import DefinedError, Kind, ServiceError, shown


class StorageError(DefinedError, code="storage_error", kind=Kind.UNAVAILABLE):
    """A storage failure in the one error model; subclasses fix the code and kind."""


class StorageUnavailable(StorageError, code="storage_unavailable"):
    """Storage did not answer or failed: retryable."""


class StorageConfigError(StorageError, code="storage_misconfigured"):
    """Bucket missing, credentials refused: retryable for a request (an operator can fix it while the
    broker redelivers), fatal for readiness."""


class ObjectNotFound(StorageError, code="object_not_found", kind=Kind.NOT_FOUND):
    """A key or referenced object that does not exist: permanent."""


class AlreadyExists(StorageError, code="already_exists", kind=Kind.CONFLICT):
    """A create-only write found the key taken (another delivery of the same event won the race)."""


def invalid_reference(uri: str, expected: str) -> ServiceError:
    return ServiceError(Kind.INVALID, "invalid_reference", f"{shown(uri)} is not a {expected} URI.")


def reference_forbidden(uri: str, where: str) -> ServiceError:
    return ServiceError(Kind.FORBIDDEN, "reference_forbidden",
                        f"{shown(uri)} is outside this service's storage; only {where} can be referenced.")


def reference_too_large(uri: str, size: int, limit: int) -> ServiceError:
    return ServiceError(Kind.TOO_LARGE, "reference_too_large",
                        f"{shown(uri)} has {size} bytes or more; the limit is {limit} (EMOTIVOICE_MAX_REFERENCE_BYTES).")


@dataclass(frozen=True)
class StoredObject:
    key: str  # full key inside the bucket/root, prefix included
    uri: str  # s3://bucket/key or file:///abs/path
    size: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


class Storage(Protocol):
    def check(self) -> None:
        """Raise StorageConfigError / StorageUnavailable unless writes can succeed."""
        ...

    def key(self, name: str) -> str:
        """The full key for a name under this service's prefix."""
        ...

    def head(self, key: str) -> StoredObject | None: ...

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str], *,
            if_absent: bool = False) -> StoredObject:
        """Write atomically (readers see all or nothing). ``if_absent``: raise AlreadyExists if taken."""
        ...

    def get(self, key: str) -> bytes: ...

    def read_reference(self, uri: str) -> bytes:
        """Read an input a caller referenced by URI (``s3://bucket/key``; ``file://`` for local storage).

        Only objects inside our own bucket (or storage root) and reference prefix are read; the size is
        checked before reading and the read is capped. Errors name the URI, never the content:
        ``invalid_reference`` (400), ``reference_forbidden`` (403), ``object_not_found`` (404),
        ``reference_too_large`` (413).
        """
        ...

    def list(self, prefix: str) -> list[str]:
        """Full keys starting with ``prefix`` (a full key prefix)."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object (and its metadata); a key that does not exist is not an error."""
        ...

    def presign(self, key: str, expires_seconds: int) -> str:
        """A URL anyone can GET for ``expires_seconds``."""
        ...

    def close(self) -> None:
        """Release connections; called once at shutdown."""
        ...
