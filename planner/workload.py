"""Arrival traces: a CSV of timestamps, or a rate function sampled as a Poisson process with a seed.

Why per-second Poisson counts: a non-homogeneous Poisson process with a rate that is constant within
each second is exact for step traces and close enough for smooth ones, and it is generated with a few
vectorised numpy calls (a 24 h trace of millions of arrivals takes well under a second).

Trace specifications accepted by ``parse_trace`` (and the CLI's ``--trace``):

- a path to a CSV with a ``timestamp`` column (seconds; absolute or relative, shifted to start at 0) and
  an optional ``chars`` column (text length of each request);
- ``constant:QPS[:DURATION_S]``
- ``step:BEFORE,AFTER,AT_S[:DURATION_S]``
- ``ramp:FROM,TO,START_S,END_S[:DURATION_S]``
- ``diurnal:TROUGH,PEAK[,PEAK_HOUR][:DURATION_S]`` (24 h cosine, trough 12 h away from the peak)
- ``festival[:BASE,BURST,WARMUP_S,BURST_S,COOLDOWN_S]``: the seed article's burst, 2 -> 35 QPS.

Imports: numpy and the standard library only; never ``function`` or the rest of the planner.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

RateFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Trace:
    """Arrival times (seconds from 0, sorted), optional text lengths, the horizon and a label."""

    times: np.ndarray
    chars: np.ndarray | None
    duration_s: float
    label: str
    rate: RateFn | None = None  # the intended rate, for plots
    marks: tuple[tuple[str, float], ...] = ()  # named instants (e.g. the festival burst's start and end)

    def __post_init__(self) -> None:
        if len(self.times) and np.any(np.diff(self.times) < 0):
            raise ValueError("arrival times must be sorted")
        if self.chars is not None and len(self.chars) != len(self.times):
            raise ValueError("chars must have one entry per arrival")

    @property
    def n(self) -> int:
        return int(len(self.times))

    @property
    def mean_qps(self) -> float:
        return self.n / self.duration_s if self.duration_s > 0 else 0.0


def constant(qps: float) -> RateFn:
    return lambda t: np.full_like(t, float(qps), dtype=float)


def step(before: float, after: float, at_s: float) -> RateFn:
    return lambda t: np.where(t < at_s, float(before), float(after))


def ramp(start_qps: float, end_qps: float, start_s: float, end_s: float) -> RateFn:
    if end_s <= start_s:
        raise ValueError("ramp end must be after its start")

    def f(t: np.ndarray) -> np.ndarray:
        frac = np.clip((t - start_s) / (end_s - start_s), 0.0, 1.0)
        return start_qps + (end_qps - start_qps) * frac

    return f


def diurnal(trough_qps: float, peak_qps: float, peak_hour: float = 20.0) -> RateFn:
    """A day as a cosine: ``peak_qps`` at ``peak_hour``, ``trough_qps`` twelve hours away."""

    def f(t: np.ndarray) -> np.ndarray:
        phase = 2 * math.pi * (t / 3600.0 - peak_hour) / 24.0
        return trough_qps + (peak_qps - trough_qps) * (1 + np.cos(phase)) / 2

    return f


def festival(
    base_qps: float = 2.0, burst_qps: float = 35.0, warmup_s: float = 300.0, burst_s: float = 1200.0, cooldown_s: float = 600.0
) -> tuple[RateFn, float]:
    """The seed's customer story: steady 2 QPS, then festival greetings at 35 QPS, then back."""
    end = warmup_s + burst_s

    def f(t: np.ndarray) -> np.ndarray:
        return np.where((t >= warmup_s) & (t < end), float(burst_qps), float(base_qps))

    return f, warmup_s + burst_s + cooldown_s


def poisson_arrivals(rate: RateFn, duration_s: float, seed: int = 0) -> np.ndarray:
    """Arrival times of a Poisson process whose rate is ``rate`` evaluated at each second's midpoint."""
    rng = np.random.default_rng(seed)
    n_sec = int(math.ceil(duration_s))
    mids = np.arange(n_sec, dtype=float) + 0.5
    lam = np.maximum(0.0, rate(mids))
    lam[-1] *= duration_s - (n_sec - 1)  # a partial last second
    counts = rng.poisson(lam)
    starts = np.repeat(np.arange(n_sec, dtype=float), counts)
    widths = np.repeat(np.r_[np.ones(n_sec - 1), duration_s - (n_sec - 1)], counts)
    times = starts + rng.random(len(starts)) * widths
    times.sort(kind="mergesort")  # already sorted per second; this sorts within each second
    return times


def from_rate(rate: RateFn, duration_s: float, seed: int, label: str) -> Trace:
    return Trace(poisson_arrivals(rate, duration_s, seed), None, float(duration_s), label, rate)


def read_csv(path: Path) -> Trace:
    """A CSV of request timestamps (and optionally text lengths), shifted to start at 0."""
    times: list[float] = []
    chars: list[int] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "timestamp" not in reader.fieldnames:
            raise ValueError(f"{path}: needs a header with a 'timestamp' column (seconds)")
        has_chars = "chars" in reader.fieldnames
        for i, row in enumerate(reader, start=2):
            try:
                times.append(float(row["timestamp"]))
                if has_chars:
                    chars.append(int(row["chars"]))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{path}:{i}: bad row {row!r}: {e}") from e
    if not times:
        raise ValueError(f"{path}: no rows")
    t = np.array(times, dtype=float)
    order = np.argsort(t, kind="mergesort")
    t = t[order] - t[order][0]
    c = np.array(chars, dtype=int)[order] if chars else None
    duration = float(math.floor(t[-1]) + 1)
    return Trace(t, c, duration, f"csv:{path.name}")


def _floats(s: str) -> list[float]:
    return [float(x) for x in s.split(",") if x.strip()]


def parse_trace(spec: str, seed: int = 0, duration_s: float | None = None) -> Trace:
    """Build a trace from a CSV path or a rate specification (see the module doc)."""
    p = Path(spec)
    if p.suffix.lower() == ".csv" or p.exists():
        return read_csv(p)
    kind, _, rest = spec.partition(":")
    args_s, _, dur_s = rest.partition(":")
    args = _floats(args_s) if args_s else []
    dur = float(dur_s) if dur_s else duration_s
    try:
        if kind == "festival":
            rate, default_dur = festival(*args) if args else festival()
            warm, burst = (args[2], args[3]) if len(args) >= 4 else (300.0, 1200.0)
            tr = from_rate(rate, dur or default_dur, seed, "festival")
            return replace(tr, marks=(("burst_start", warm), ("burst_end", warm + burst)))
        if kind == "constant":
            (qps,) = args
            return from_rate(constant(qps), dur or 3600.0, seed, f"constant {qps:g} QPS")
        if kind == "step":
            before, after, at = args
            return from_rate(step(before, after, at), dur or at + 1800.0, seed, f"step {before:g}->{after:g} QPS")
        if kind == "ramp":
            a, b, s0, s1 = args
            return from_rate(ramp(a, b, s0, s1), dur or s1 + 900.0, seed, f"ramp {a:g}->{b:g} QPS")
        if kind == "diurnal":
            trough, peak, *hour = args
            return from_rate(diurnal(trough, peak, *hour), dur or 86400.0, seed, f"diurnal {trough:g}..{peak:g} QPS")
    except ValueError as e:
        raise ValueError(f"bad trace spec {spec!r}: {e}") from e
    raise ValueError(
        f"unknown trace {spec!r}: give a CSV path or one of constant:, step:, ramp:, diurnal:, festival"
    )
