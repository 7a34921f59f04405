"""Knative's 1 s metric buckets (``TimedFloat64Buckets``): what "observed stable / panic value" means.

Why exact: the partial-window rules decide how fast a revision reacts after being idle (a fresh window
averages only the buckets since the first write, so a cold revision sees its first request at full weight),
how the stable value decays once data stops, and -- through the 6-digit rounding -- on which side of a
``ceil`` an exact boundary lands. Facts from ``pkg/autoscaler/aggregation/bucketing.go``:

- a write older than the last write but inside the window goes into its own bucket without moving the
  window (and may move the first write back); a write a whole window or more older is ignored;
- a gap since the last write of a whole window or more (``>=``) resets the window;
- the average over a partial window divides by the buckets since the first write; with no data for a
  while (less than a window), the missing seconds are dropped from both sum and count; the result is
  rounded to 6 decimal digits, half away from zero (Go's ``math.Round``).

Imports: the standard library only.
"""

from __future__ import annotations

import math

#: Knative rounds window averages to this many decimal digits.
PRECISION = 6


def round_to_n_digits(n: int, f: float) -> float:
    """Go's ``math.Round(f * 10^n) / 10^n``: half away from zero, on the float ``f * 10^n``."""
    p = 10.0**n
    y = f * p
    r = math.trunc(y)
    if abs(y - r) >= 0.5:
        r += math.copysign(1.0, y)
    return r / p


class TimedBuckets:
    """One value per second over ``window_s`` seconds, in a ring; ``record`` and ``window_average`` as
    Knative's (see the module doc)."""

    __slots__ = ("window", "buckets", "first_write", "last_write", "total")

    def __init__(self, window_s: int) -> None:
        if window_s < 1:
            raise ValueError("window must be at least one 1 s bucket")
        self.window = int(window_s)
        self.buckets = [0.0] * self.window
        self.first_write: int | None = None
        self.last_write: int | None = None
        self.total = 0.0

    def record(self, t: float, value: float) -> None:
        """Add ``value`` to the bucket of second ``floor(t)``."""
        b = math.floor(t)
        n = self.window
        last = self.last_write
        if last != b:
            if last is not None and b + n <= last:
                return  # a whole window (or more) older than the last write: ignored
            if self.first_write is None or self.first_write > b:
                self.first_write = b
            if last is None or b > last:
                if last is None or b - last >= n:
                    # no write for a whole window: start afresh
                    self.first_write = b
                    self.buckets = [0.0] * n
                    self.total = 0.0
                else:
                    for i in range(last + 1, b + 1):  # zero the seconds skipped since the last write
                        idx = i % n
                        self.total -= self.buckets[idx]
                        self.buckets[idx] = 0.0
                self.last_write = b
            # else: older than the last write but inside the window: only its own bucket changes
        self.buckets[b % n] += value
        self.total += value

    def is_empty(self, t: float) -> bool:
        """True when nothing was recorded for longer than the window (Knative's ErrNoData)."""
        return self.last_write is None or math.floor(t) - self.last_write > self.window

    def window_average(self, t: float) -> float:
        now = math.floor(t)
        if self.last_write is None or self.first_write is None:
            return 0.0
        n = self.window
        d = now - self.last_write
        span = self.last_write - self.first_write + 1
        if d <= 0:
            return round_to_n_digits(PRECISION, self.total / min(span, n))
        if d < n:
            ret = self.total
            for i in range(self.last_write + 1, now + 1):
                ret -= self.buckets[i % n]
            return round_to_n_digits(PRECISION, ret / min(span, n - d))
        return 0.0
