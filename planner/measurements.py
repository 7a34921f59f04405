"""The project's benchmark outputs, validated, and the models the simulation draws from.

Why models and not raw samples: the simulation needs a service time for any text length at any
in-pod concurrency, while the benchmark measures a handful of (chars, concurrency) points on one pod.
The service-time model is deliberately simple and stated:

- at concurrency 1, ``seconds = a + b * chars`` (least squares on the concurrency-1 samples, or on the
  lowest concurrency measured), with the measured residual *ratios* resampled as multiplicative noise;
- contention: ``slowdown(c)`` = median of ``seconds / fit(chars)`` over the samples at concurrency c,
  interpolated between measured levels and extrapolated beyond the highest one as processor sharing
  (``slowdown(c_max) * c / c_max``);
- a request's service time is fixed when it starts, from the pod's concurrency at that moment;
- text lengths are drawn from the measured samples' lengths unless the trace gives them.

Defaults are the measurements shipped in the package (``measured_defaults``), so the planner works
from any directory; ``bench/`` refreshes them.

Imports: numpy, pydantic, the standard library and ``measured_defaults`` (paths only); never ``function``
(the benchmark files are the contract with the serving code, not its modules) or the rest of the planner.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.measured_defaults import COLD_START as DEFAULT_COLD_START
from planner.measured_defaults import SERVICE_TIMES

DEFAULT_SERVICE_TIMES = SERVICE_TIMES["espeak"]
#: bench/http_latency.py's --workers default: the server's EMOTIVOICE_WORKERS when the command names none.
BENCH_DEFAULT_WORKERS = 2
SERVICE_TIMES_COMMAND = "python bench/http_latency.py"
COLD_START_COMMAND = "python bench/cold_start.py"


_M = TypeVar("_M", bound=BaseModel)


class MeasurementError(Exception):
    """A benchmark file is missing or malformed; the message says which and how to produce it."""


class LatencySample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chars: int = Field(ge=0)
    concurrency: int = Field(ge=1)
    seconds: float = Field(gt=0)


class ServiceTimesFile(BaseModel):
    """``bench/results/service_times.json``: end-to-end latency against one pod."""

    model_config = ConfigDict(extra="forbid")
    engine: Literal["espeak", "emotivoice"]
    machine: str
    command: str
    measured_at: str
    samples: list[LatencySample] = Field(min_length=1)
    workers: int | None = Field(None, ge=1, description="EMOTIVOICE_WORKERS of the measured server")

    @property
    def measured_workers(self) -> int:
        """The server's synthesis threads during the measurement: the field, else the command's
        ``--workers N``, else the benchmark's default. The contention model (``slowdown``) holds for a pod
        with this many workers, so a plan's pods must run with it too."""
        if self.workers is not None:
            return self.workers
        m = re.search(r"--workers[= ](\d+)", self.command)
        return int(m.group(1)) if m else BENCH_DEFAULT_WORKERS


class ColdStartVariant(BaseModel):
    # The benchmark may add summary fields (medians, sizes, stage breakdowns): only samples_s is needed.
    model_config = ConfigDict(extra="ignore")
    samples_s: list[float] = Field(min_length=1)


class ColdStartFile(BaseModel):
    """``bench/results/cold_start.json``: process start -> first successful synthesis."""

    model_config = ConfigDict(extra="ignore")
    machine: str
    command: str
    measured_at: str
    # eager, snapshot and espeak are what the planner's --variant names; other measured variants
    # (e.g. an A/B of snapshot settings) may sit beside them.
    variants: dict[str, ColdStartVariant] = Field(min_length=1)


def _load(path: Path, model: type[_M], command: str) -> _M:
    if not path.exists():
        raise MeasurementError(f"{path} not found: run `{command}` to measure it, or pass its path explicitly.")
    try:
        return model.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise MeasurementError(f"{path} is not valid JSON ({e}); re-run `{command}`.") from e
    except ValidationError as e:
        raise MeasurementError(f"{path} does not match the agreed schema:\n{e}\nRe-run `{command}`.") from e


def load_service_times(path: Path = DEFAULT_SERVICE_TIMES) -> ServiceTimesFile:
    return _load(path, ServiceTimesFile, SERVICE_TIMES_COMMAND)


def load_cold_start(path: Path = DEFAULT_COLD_START) -> ColdStartFile:
    return _load(path, ColdStartFile, COLD_START_COMMAND)


class ServiceTimeModel:
    """Service time of one request given its text length and the pod's concurrency (see module doc)."""

    def __init__(self, data: ServiceTimesFile) -> None:
        self.source = data
        chars = np.array([s.chars for s in data.samples], dtype=float)
        conc = np.array([s.concurrency for s in data.samples], dtype=int)
        secs = np.array([s.seconds for s in data.samples], dtype=float)
        base_c = int(conc.min())
        m = conc == base_c
        if len(np.unique(chars[m])) >= 2:
            b, a = np.polyfit(chars[m], secs[m], 1)
            if b < 0:  # noise can tilt a flat relation; a negative slope would be non-physical
                a, b = float(np.median(secs[m])), 0.0
        else:
            a, b = float(np.median(secs[m])), 0.0
        self.a, self.b = float(a), float(b)
        fit = np.maximum(self.a + self.b * chars, 1e-4)
        ratio = secs / fit
        base_slow = float(np.median(ratio[m]))
        levels = np.unique(conc)
        slow = np.array([float(np.median(ratio[conc == c])) / base_slow for c in levels])
        if base_c > 1:
            # Only contended samples: assume processor sharing below the lowest level measured.
            levels = np.concatenate(([1], levels))
            slow = np.concatenate(([slow[0] / base_c], slow))
        slow = np.maximum.accumulate(np.maximum(slow, 1e-3))  # more concurrency is never faster per request
        self.levels = levels.astype(float)
        self.slow = slow
        self.noise = ratio[m] / base_slow
        self.chars = chars.astype(int)
        self._slow_cache: dict[int, float] = {}

    def fit(self, chars: float) -> float:
        return max(1e-4, self.a + self.b * chars)

    def slowdown(self, concurrency: int) -> float:
        c = max(1, int(concurrency))
        v = self._slow_cache.get(c)
        if v is None:
            cmax = self.levels[-1]
            if c <= cmax:
                v = float(np.interp(c, self.levels, self.slow))
            else:
                v = float(self.slow[-1] * c / cmax)
            self._slow_cache[c] = v
        return v

    def mean_service_s(self, concurrency: int = 1) -> float:
        """Mean service time over the measured text-length mix."""
        return float(np.mean([self.fit(c) for c in self.chars]) * np.mean(self.noise) * self.slowdown(concurrency))

    def throughput(self, concurrency: int) -> float:
        """Requests per second one pod completes when kept at ``concurrency`` (mean text length)."""
        return concurrency / self.mean_service_s(concurrency)

    def saturation_concurrency(self, max_c: int = 64) -> int:
        """Smallest concurrency whose throughput is within 5 % of the best: useful containerConcurrency."""
        tp = [self.throughput(c) for c in range(1, max_c + 1)]
        best = max(tp)
        return next(i + 1 for i, x in enumerate(tp) if x >= 0.95 * best)

    def draw_chars(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(self.chars, size=n, replace=True)

    def draw_base(self, rng: np.random.Generator, chars: np.ndarray) -> np.ndarray:
        """Concurrency-1 service times for the given text lengths (noise included)."""
        noise = rng.choice(self.noise, size=len(chars), replace=True)
        return np.maximum(1e-4, (self.a + self.b * chars.astype(float))) * noise


class ColdStartModel:
    """Pod start-up: measured process-start-to-first-synthesis plus a stated scheduling overhead.

    ``overhead_s`` covers what the benchmark cannot see on this machine (pod scheduling, container
    creation with a cached image, readiness probe): an assumption, 2 s by default.
    """

    def __init__(self, data: ColdStartFile, variant: str, overhead_s: float = 2.0) -> None:
        if variant not in data.variants:
            raise MeasurementError(
                f"cold-start variant {variant!r} not in the file (has {sorted(data.variants)})"
            )
        self.variant = variant
        self.samples = np.array(data.variants[variant].samples_s, dtype=float)  # type: ignore[index]
        self.overhead_s = overhead_s

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.choice(self.samples)) + self.overhead_s

    @property
    def median_s(self) -> float:
        return float(np.median(self.samples)) + self.overhead_s
