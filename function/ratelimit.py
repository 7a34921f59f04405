"""Per-subject token buckets, per pod, and their IETF ``RateLimit`` header fields.

Why a token bucket: text-to-speech callers are bursty (a page of greetings at once, then nothing), so a
subject may send ``burst`` requests at once and then ``rate`` per second on average; a fixed window
would either forbid the burst or allow twice the rate at window edges.

Why per pod: the state is this process's memory, so a subject spread over N pods by Knative may send up
to N times the rate. A cluster-wide limit needs shared state (see the README's Security section).

The header fields follow draft-ietf-httpapi-ratelimit-headers-11 (``RateLimit-Policy`` and
``RateLimit``, Structured Field lists). A bucket maps onto them as: policy quota ``q`` = the burst, window
``w`` = the seconds a drained bucket needs to refill; service limit ``r`` = whole tokens left, ``t`` =
seconds until the next token (the time within which the client can use no more than ``r``). A throttled
answer's ``Retry-After`` is that same ``t``, so it never points before the end of the effective window
(the draft's section 6). No ``pk``: the partition key would reveal the subject.

A leaf: imports nothing of ours but ``function.errors``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from function.errors import Kind, ServiceError

POLICY_NAME = "per-subject"
# Buckets kept at most; the least recently used go first. A full bucket is the same as no bucket, so
# evicting idle subjects loses nothing; only a flood of distinct subjects could reset a busy one's bucket.
MAX_SUBJECTS = 100_000


@dataclass(frozen=True)
class Decision:
    """One request's outcome: allowed or not, and what the RateLimit fields say about the bucket now."""

    allowed: bool
    remaining: int  # whole tokens left after this request
    reset_seconds: int  # seconds until the next token (0 when the bucket is full)


class TokenBucketLimiter:
    """``rate`` tokens per second into a bucket of ``burst`` per subject; a request takes one token."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_subjects: int = MAX_SUBJECTS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._max_subjects = max_subjects
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # subject -> (tokens, at)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, subject: str) -> Decision:
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(subject, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            if tokens < self.burst:  # a full bucket needs no entry
                self._buckets[subject] = (tokens, now)
                while len(self._buckets) > self._max_subjects:
                    self._buckets.popitem(last=False)
        return Decision(allowed, int(tokens), self._seconds_to_next_token(tokens))

    def _seconds_to_next_token(self, tokens: float) -> int:
        if tokens >= self.burst:
            return 0
        missing = 1.0 - (tokens - math.floor(tokens))  # fraction of a token still to come
        return max(1, math.ceil(missing / self.rate - 1e-9))

    @property
    def window_seconds(self) -> int:
        """Seconds an empty bucket takes to fill: the policy's window."""
        return max(1, math.ceil(self.burst / self.rate))

    def policy_header(self) -> str:
        return f'"{POLICY_NAME}";q={self.burst};w={self.window_seconds}'

    def headers(self, decision: Decision) -> list[tuple[str, str]]:
        """``RateLimit-Policy`` and ``RateLimit`` for a response."""
        return [("RateLimit-Policy", self.policy_header()),
                ("RateLimit", f'"{POLICY_NAME}";r={decision.remaining};t={decision.reset_seconds}')]

    def rejection(self, decision: Decision) -> ServiceError:
        """The 429 for a request the bucket refused, with Retry-After = seconds until the next token."""
        rate = f"{self.rate:g} per second" if self.rate >= 1 else f"one per {1 / self.rate:g} seconds"
        return ServiceError(Kind.RATE_LIMITED, "rate_limited",
                            f"Too many requests: {rate}, bursts of {self.burst}. "
                            f"Retry in {decision.reset_seconds} s.", retry_after=decision.reset_seconds)
