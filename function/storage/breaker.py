"""A circuit breaker around any storage backend: once storage is known to be down, fail in milliseconds.

Without it, every call to a hanging object store waits out connect/read timeouts and retries, and each
caller (an event delivery, a batch item, a batch status poll) pays that again. After
``failures`` consecutive retryable storage failures the breaker opens: calls raise
``StorageUnavailable`` at once, with ``Retry-After`` set to the time left. After ``cool_down`` seconds one
call is let through as a probe; its success closes the breaker, its failure opens it again.

Only retryable storage failures (kind ``unavailable``) count; a missing object or a refused reference is
the caller's business and says nothing about storage health. A leaf, like the backends it wraps.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from function.errors import Kind
from function.storage.base import Storage, StorageError, StorageUnavailable, StoredObject

T = TypeVar("T")


class BreakerStorage:
    def __init__(self, inner: Storage, *, failures: int, cool_down: float,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[bool], None] | None = None) -> None:
        self.inner = inner
        self.on_change = on_change  # called with True when the breaker opens, False when it closes
        self._threshold = failures
        self._cool_down = cool_down
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    # --- state ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """For readiness details and metrics: closed, open (with seconds left) or half-open."""
        with self._lock:
            if self._opened_at is None:
                return {"state": "closed", "consecutive_failures": self._failures}
            left = self._opened_at + self._cool_down - self._clock()
            return {"state": "half-open" if left <= 0 else "open", "retry_in_seconds": round(max(0.0, left), 3)}

    def _admit(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            left = self._opened_at + self._cool_down - self._clock()
            if left > 0 or self._probing:
                raise StorageUnavailable("Object storage is unavailable (recent calls failed); retry shortly.",
                                         retry_after=max(1, math.ceil(left)))
            self._probing = True  # half-open: this call is the probe

    def _record(self, ok: bool) -> None:
        with self._lock:
            self._probing = False
            was_open = self._opened_at is not None
            if ok:
                self._failures, self._opened_at = 0, None
            else:
                self._failures += 1
                if self._failures >= self._threshold:
                    self._opened_at = self._clock()
            now_open = self._opened_at is not None
        if now_open != was_open and self.on_change is not None:
            self.on_change(now_open)

    def _guard(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self._admit()
        try:
            result = fn(*args, **kwargs)
        except StorageError as exc:
            # Only storage-health failures count; the probe slot is freed either way.
            self._record(ok=exc.kind is not Kind.UNAVAILABLE)
            raise
        except BaseException:
            self._record(ok=True)
            raise
        self._record(ok=True)
        return result

    # --- the Storage protocol, guarded where it does I/O ------------------------------------------
    def check(self) -> None:
        self._guard(self.inner.check)

    def key(self, name: str) -> str:
        return self.inner.key(name)

    def head(self, key: str) -> StoredObject | None:
        return self._guard(self.inner.head, key)

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str], *,
            if_absent: bool = False) -> StoredObject:
        return self._guard(self.inner.put, key, data, content_type, metadata, if_absent=if_absent)

    def get(self, key: str) -> bytes:
        return self._guard(self.inner.get, key)

    def read_reference(self, uri: str) -> bytes:
        return self._guard(self.inner.read_reference, uri)

    def list(self, prefix: str) -> list[str]:
        return self._guard(self.inner.list, prefix)

    def delete(self, key: str) -> None:
        self._guard(self.inner.delete, key)

    def presign(self, key: str, expires_seconds: int) -> str:
        return self.inner.presign(key, expires_seconds)

    def close(self) -> None:
        self.inner.close()
