"""Knative Pod Autoscaler (KPA) decisions, reproduced arithmetic for arithmetic.

Why a re-implementation: the seed article's claims (2 -> 8 replicas in 90 s, P99 < 800 ms) can only be
checked before the festival by replaying Knative's own decision rules on our measured numbers. Everything
here follows knative/serving's semantics (``pkg/autoscaler/scaling/autoscaler.go``, the metric buckets of
``pkg/autoscaler/aggregation``, the scale-down-delay max window, and the KPA reconciler's scale-to-zero
rules in ``pkg/reconciler/autoscaling/kpa``); the code is written from those semantics, not copied.

Three layers, each testable on its own:

- ``TimedBuckets``: 1 s buckets with Knative's ``WindowAverage`` (partial windows after a gap, 6-digit
  floor rounding) -- what "observed stable / panic concurrency" means.
- ``decide``: the pure per-tick decider. Input: observed stable and panic values, ready pods, time,
  reachability, config and the previous ``DeciderState``. Output: desired pods, excess burst capacity and
  the next state (panic mode and the scale-down-delay window).
- ``reconcile``: what the KPA reconciler does with the decider's number: min/max/initial scale, the
  scale-to-zero grace and retention periods, the Active condition, and whether the activator is in the
  request path (SKS proxy mode).

Imports: pydantic and the standard library (``SecondStats`` only for typing); never ``function`` or
the other autoscaler models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from planner.simulation import SecondStats

#: knative/serving's lower bound on a per-pod target (``autoscaling.TargetMin``).
TARGET_MIN = 0.01
#: The reconciler gives up on an activation after the deployment's progress deadline (600 s by default)
#: plus a small buffer; only then may a never-ready revision be scaled to zero.
ACTIVATION_TIMEOUT_S = 610.0


class KpaConfig(BaseModel):
    """The KPA knobs: ``config-autoscaler`` defaults overridden by the revision's annotations.

    Defaults are those of ``../shared/knative-crds/serving-config-autoscaler.yaml`` (note
    target-burst-capacity is 211 there, not 200). Durations are in whole seconds, as Knative requires
    for the stable window.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    container_concurrency: int = Field(0, ge=0, le=1000, description="spec.containerConcurrency; 0 = unlimited")
    metric: Literal["concurrency", "rps"] = "concurrency"
    target: float | None = Field(None, gt=0, description="autoscaling.knative.dev/target annotation")
    target_utilization_percentage: float = Field(70.0, gt=0, le=100)
    container_concurrency_target_default: float = Field(100.0, gt=0)
    rps_target_default: float = Field(200.0, gt=1)
    stable_window_s: int = Field(60, ge=6, le=3600)
    panic_window_percentage: float = Field(10.0, ge=1, le=100)
    panic_threshold_percentage: float = Field(200.0, ge=110, le=1000)
    max_scale_up_rate: float = Field(1000.0, gt=1)
    max_scale_down_rate: float = Field(2.0, gt=1)
    target_burst_capacity: float = Field(211.0, ge=-1)
    activation_scale: int = Field(1, ge=1)
    scale_down_delay_s: int = Field(0, ge=0, le=3600)
    enable_scale_to_zero: bool = True
    scale_to_zero_grace_period_s: float = Field(30.0, gt=0)
    scale_to_zero_pod_retention_period_s: float = Field(0.0, ge=0)
    min_scale: int = Field(0, ge=0)
    max_scale: int = Field(0, ge=0, description="0 = unbounded")
    initial_scale: int = Field(1, ge=0)
    allow_zero_initial_scale: bool = False
    tick_interval_s: int = Field(2, ge=1, description="decider period (Knative's tickInterval)")

    @model_validator(mode="after")
    def _check(self) -> KpaConfig:
        if self.target_burst_capacity < 0 and self.target_burst_capacity != -1:
            raise ValueError("target_burst_capacity must be -1 (unlimited) or >= 0")
        if self.initial_scale == 0 and not self.allow_zero_initial_scale:
            raise ValueError("initial_scale 0 needs allow_zero_initial_scale")
        if self.max_scale and self.min_scale > self.max_scale:
            raise ValueError("min_scale must not exceed max_scale")
        return self

    @property
    def panic_window_s(self) -> int:
        """Panic window: a percentage of the stable window, rounded to whole seconds, at least 1 s."""
        raw = self.stable_window_s * self.panic_window_percentage / 100.0
        return max(1, math.floor(raw + 0.5))

    @property
    def panic_threshold(self) -> float:
        return self.panic_threshold_percentage / 100.0

    @property
    def utilization(self) -> float:
        return self.target_utilization_percentage / 100.0

    @property
    def total_value(self) -> float:
        """The most a pod may carry of the scaling metric (Knative's ``TotalValue``).

        Concurrency: containerConcurrency, or the cluster default when unlimited; the target annotation
        replaces it but never exceeds a non-zero containerConcurrency. RPS: the RPS default or the target.
        """
        if self.metric == "rps":
            total = self.rps_target_default
        else:
            total = float(self.container_concurrency) or self.container_concurrency_target_default
        if self.target is not None:
            total = self.target
            if self.metric == "concurrency" and self.container_concurrency:
                total = min(self.target, float(self.container_concurrency))
        return total

    @property
    def target_value(self) -> float:
        """Per-pod target the decider divides by: total x utilisation, at least 0.01."""
        return max(TARGET_MIN, self.total_value * self.utilization)

    @property
    def delay_buckets(self) -> int:
        """Size of the scale-down-delay max window: delay / tick interval, rounded up."""
        return math.ceil(self.scale_down_delay_s / self.tick_interval_s)


# --------------------------------------------------------------------------------------------------
# Metric buckets
# --------------------------------------------------------------------------------------------------


def _floor6(x: float) -> float:
    """Knative floors window averages to 6 decimal digits before the decider sees them."""
    return math.floor(x * 1e6) / 1e6


class TimedBuckets:
    """1 s metric buckets over a window, with knative/serving's ``WindowAverage`` semantics.

    Why exact: the partial-window rules decide how fast a revision reacts after being idle (a fresh
    window averages only the buckets since the first write, so a cold revision sees its first request at
    full weight) and how the stable value decays once data stops.
    """

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
        """Add ``value`` to the bucket of second ``floor(t)``, zeroing any skipped buckets."""
        b = math.floor(t)
        n = self.window
        if self.last_write != b:
            if self.first_write is None:
                self.first_write = b
            if self.last_write is None or b - self.last_write > n:
                self.first_write = b
                self.buckets = [0.0] * n
                self.total = 0.0
            else:
                for i in range(self.last_write + 1, b + 1):
                    idx = i % n
                    self.total -= self.buckets[idx]
                    self.buckets[idx] = 0.0
            self.last_write = b
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
            return _floor6(self.total / min(span, n))
        if d < n:
            ret = self.total
            for i in range(self.last_write + 1, now + 1):
                ret -= self.buckets[i % n]
            return _floor6(ret / min(span, n - d))
        return 0.0


# --------------------------------------------------------------------------------------------------
# The decider
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What the decider sees at one tick."""

    now: float
    stable: float | None  # None = no data for a whole stable window (Knative's ErrNoData)
    panic: float
    ready_pods: int
    reachable: bool = True


@dataclass(frozen=True)
class DeciderState:
    """Decider memory between ticks: panic mode and the scale-down-delay max window.

    ``delay`` holds (tick index, value) entries in descending value order, like Knative's ascending
    minima window; the first entry is the window's maximum.
    """

    panic_time: float | None = None
    max_panic_pods: int = 0
    delay: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def initial(ready_pods: int, now: float) -> DeciderState:
        """A newly created autoscaler starts in panic mode when more than one pod is ready.

        Knative does this so that an autoscaler restart (which loses metric history) cannot scale a busy
        revision down before it has a stable window of data.
        """
        if ready_pods > 1:
            return DeciderState(panic_time=now, max_panic_pods=ready_pods)
        return DeciderState(max_panic_pods=max(0, ready_pods))

    @property
    def in_panic(self) -> bool:
        return self.panic_time is not None


@dataclass(frozen=True)
class ScaleResult:
    desired_pods: int
    excess_burst_capacity: int
    valid: bool
    stable_pods: int = 0  # what the stable window alone asks for (for plots and tests)
    panic_pods: int = 0


INVALID = ScaleResult(desired_pods=-1, excess_burst_capacity=0, valid=False)


def _delay_record(entries: tuple[tuple[int, int], ...], size: int, index: int, value: int) -> tuple[tuple[int, int], ...]:
    """Record ``value`` at ``index`` in a sliding-maximum window of ``size`` indices."""
    out = list(entries)
    while out and value >= out[-1][1]:
        out.pop()
    while out and index - out[0][0] >= size:
        out.pop(0)
    if out and out[-1][0] == index:
        value = max(value, out[-1][1])
        out.pop()
    out.append((index, value))
    return tuple(out)


def decide(cfg: KpaConfig, state: DeciderState, obs: Observation) -> tuple[ScaleResult, DeciderState]:
    """One autoscaler tick: desired pod count and excess burst capacity, plus the next state.

    Pure: the same config, state and observation always give the same answer.
    """
    if obs.stable is None:
        return INVALID, state
    original_ready = max(0, obs.ready_pods)
    ready = float(max(1, original_ready))
    max_up = math.ceil(cfg.max_scale_up_rate * ready)
    max_down = math.floor(ready / cfg.max_scale_down_rate) if obs.reachable else 0.0
    tv = cfg.target_value
    dspc = math.ceil(obs.stable / tv)
    dppc = math.ceil(obs.panic / tv)
    stable_pods = int(min(max(dspc, max_down), max_up))
    panic_pods = int(min(max(dppc, max_down), max_up))
    if cfg.activation_scale > 1:
        if dspc > 0 and cfg.activation_scale > stable_pods:
            stable_pods = cfg.activation_scale
        if dppc > 0 and cfg.activation_scale > panic_pods:
            panic_pods = cfg.activation_scale

    over = dppc / ready >= cfg.panic_threshold
    panic_time, max_panic = state.panic_time, state.max_panic_pods
    if panic_time is None and over:
        panic_time = obs.now  # start panicking
    elif over:
        panic_time = obs.now  # still over the threshold: extend the panic
    elif panic_time is not None and panic_time + cfg.stable_window_s < obs.now:
        panic_time, max_panic = None, 0  # the surge has reached the stable window: leave panic

    desired = stable_pods
    if panic_time is not None:
        desired = max(desired, panic_pods)
        if desired > max_panic:
            max_panic = desired
        desired = max_panic  # never scale down while panicking

    delay = state.delay
    if cfg.scale_down_delay_s > 0:
        delay = _delay_record(delay, cfg.delay_buckets, int(obs.now) // cfg.tick_interval_s, desired)
        desired = delay[0][1]

    tbc = cfg.target_burst_capacity
    if tbc == 0:
        ebc = 0.0
    elif tbc > 0:
        ebc = math.floor(original_ready * cfg.total_value - tbc - obs.panic)
    else:
        ebc = -1.0
    result = ScaleResult(
        desired_pods=int(desired),
        excess_burst_capacity=int(ebc),
        valid=True,
        stable_pods=stable_pods,
        panic_pods=panic_pods,
    )
    return result, DeciderState(panic_time=panic_time, max_panic_pods=max_panic, delay=delay)


def initial_excess_burst_capacity(cfg: KpaConfig) -> int:
    """EBC before the first valid tick: initial scale x total - TBC (or the TBC sentinel itself)."""
    if cfg.target_burst_capacity in (-1, 0):
        return int(cfg.target_burst_capacity)
    return int(cfg.initial_scale * cfg.total_value - cfg.target_burst_capacity)


# --------------------------------------------------------------------------------------------------
# The KPA reconciler: bounds, scale to zero, Active condition, activator in the path
# --------------------------------------------------------------------------------------------------

PaStatus = Literal["activating", "active", "inactive"]


@dataclass(frozen=True)
class PaState:
    """The PodAutoscaler's status as far as scaling cares."""

    status: PaStatus = "activating"
    since: float = 0.0  # last transition of the Active condition
    scale_target_initialized: bool = False
    proxy_since: float | None = None  # SKS in proxy mode (activator in path) since; None = serve mode


@dataclass(frozen=True)
class ReconcileResult:
    scale: int | None  # replicas to set on the deployment; None = leave it as it is
    want: int  # the reconciler's desired scale (-1 unknown)
    activator_in_path: bool


def _bounds(cfg: KpaConfig, reachable: bool, pa: PaState) -> tuple[int, int]:
    lo = cfg.min_scale if reachable else 0
    if cfg.initial_scale > 1 and not pa.scale_target_initialized:
        lo = max(lo, cfg.initial_scale)
    return lo, cfg.max_scale


def apply_bounds(lo: int, hi: int, x: int) -> int:
    """min first, then max (0 = unbounded), as Knative's ``applyBounds``."""
    if x < lo:
        return lo
    if hi > 0 and x > hi:
        return hi
    return x


def _active_threshold(cfg: KpaConfig, reachable: bool, pa: PaState) -> int:
    lo = cfg.min_scale if reachable else 0
    if not pa.scale_target_initialized:
        return max(lo, cfg.initial_scale)
    return max(lo, 1)


def reconcile(
    cfg: KpaConfig,
    pa: PaState,
    desired: int,
    ebc: int,
    now: float,
    ready_pods: int,
    reachable: bool = True,
) -> tuple[ReconcileResult, PaState]:
    """What the KPA reconciler does with the decider's latest desired scale.

    ``desired`` is the decider's last valid answer (-1 before the first). Returns the replica count to
    apply (or None to leave the deployment alone), the reconciler's ``want``, whether the activator is in
    the request path, and the new PA status.
    """
    scale: int | None
    want: int
    if desired < 0 and pa.status != "activating":
        scale, want = None, desired
    else:
        lo, hi = _bounds(cfg, reachable, pa)
        d = apply_bounds(lo, hi, desired)
        scale, want = _scale_to_zero(cfg, pa, d, now)

    # Active condition.
    min_ready = _active_threshold(cfg, reachable, pa)
    initialized = pa.scale_target_initialized or ready_pods >= min_ready
    status, since = pa.status, pa.since
    if want == 0 or min_ready == 0:
        new = "inactive"
    elif ready_pods < min_ready:
        new = "activating" if (want > 0 or pa.status != "inactive") else "inactive"
    else:
        new = "active" if (want > 0 or pa.status != "inactive") else pa.status
    if new != status:
        status, since = new, now

    proxy = want == 0 or ebc < 0 or (want == -1 and status == "inactive")
    proxy_since = pa.proxy_since
    if proxy and proxy_since is None:
        proxy_since = now
    elif not proxy:
        proxy_since = None
    new_pa = PaState(status=status, since=since, scale_target_initialized=initialized, proxy_since=proxy_since)
    return ReconcileResult(scale=scale, want=want, activator_in_path=proxy), new_pa


def _scale_to_zero(cfg: KpaConfig, pa: PaState, desired: int, now: float) -> tuple[int | None, int]:
    """Knative's ``handleScaleToZero``: returns (scale to apply or None, want)."""
    if desired != 0:
        return desired, desired
    if not cfg.enable_scale_to_zero:
        return 1, 1
    if pa.status == "activating":
        if now - pa.since >= ACTIVATION_TIMEOUT_S:
            return 0, 0
        return None, -1
    if pa.status == "active":
        if now - pa.since >= cfg.stable_window_s:
            return None, 0  # mark inactive (activator goes in the path), keep the pods for now
        return 1, 1  # at most one pod for the rest of the idle stable window
    # inactive: the activator is in the path (always probed successfully in the simulation)
    inactive_for = now - pa.since
    retention = cfg.scale_to_zero_pod_retention_period_s
    if inactive_for >= max(cfg.scale_to_zero_grace_period_s, retention):
        return 0, 0
    if retention > 0 and inactive_for < retention:
        return None, 0
    proxy_for = 0.0 if pa.proxy_since is None else now - pa.proxy_since
    if cfg.scale_to_zero_grace_period_s - proxy_for <= 0:
        return 0, 0  # fast path: the activator has been in the path long enough already
    return None, 0


@dataclass
class Kpa:
    """Decider + reconciler + metric buckets bundled for the simulation (mutable, one per run)."""

    cfg: KpaConfig
    state: DeciderState = field(default_factory=DeciderState)
    pa: PaState = field(default_factory=PaState)
    latest_desired: int = -1
    latest_ebc: int = 0
    stable: TimedBuckets | None = None
    panic: TimedBuckets | None = None

    def __post_init__(self) -> None:
        self.stable = TimedBuckets(self.cfg.stable_window_s)
        self.panic = TimedBuckets(self.cfg.panic_window_s)
        self.latest_ebc = initial_excess_burst_capacity(self.cfg)

    @classmethod
    def warm(cls, cfg: KpaConfig, ready_pods: int, now: float = 0.0) -> Kpa:
        """An autoscaler created at ``now`` for a revision already serving with ``ready_pods`` pods."""
        k = cls(cfg)
        k.state = DeciderState.initial(ready_pods, now)
        k.latest_desired = ready_pods
        k.pa = PaState(
            status="active" if ready_pods > 0 else "inactive",
            since=now - 10 * cfg.stable_window_s,
            scale_target_initialized=True,
            proxy_since=None,
        )
        if ready_pods == 0:
            k.pa = replace(k.pa, proxy_since=now - 10 * cfg.stable_window_s)
        return k

    def record(self, t: float, value: float) -> None:
        assert self.stable is not None and self.panic is not None
        self.stable.record(t, value)
        self.panic.record(t, value)

    def tick(self, now: float, ready_pods: int, reachable: bool = True) -> tuple[ReconcileResult, ScaleResult]:
        """Run the decider, then the reconciler, at ``now``."""
        assert self.stable is not None and self.panic is not None
        stable = None if self.stable.is_empty(now) else self.stable.window_average(now)
        panic = self.panic.window_average(now)
        sr, self.state = decide(self.cfg, self.state, Observation(now, stable, panic, ready_pods, reachable))
        if sr.valid:
            self.latest_desired = sr.desired_pods
            self.latest_ebc = sr.excess_burst_capacity
        rr, self.pa = reconcile(self.cfg, self.pa, self.latest_desired, self.latest_ebc, now, ready_pods, reachable)
        return rr, sr


class KnativeController:
    """KPA plugged into the simulation: 1 s metric buckets, a decider tick every ``tick_interval_s``.

    Metric pipeline as in Knative: every second the scraped revision concurrency (queue-proxies plus the
    activator's buffer, each request counted once) or request count is added to the stable and panic
    buckets; a request arriving while the last decision was 0 pokes the autoscaler into an immediate tick.
    """

    buffers_at_zero = True

    def __init__(self, cfg: KpaConfig, initial_pods: int, name: str = "Knative KPA") -> None:
        self.cfg = cfg
        self.name = name
        self.kpa = Kpa.warm(cfg, initial_pods, 0.0)
        self.activator_in_path = self.kpa.pa.proxy_since is not None or self.kpa.latest_ebc < 0
        self.desired = initial_pods
        self.panic_seconds = 0

    def _value(self, s: SecondStats) -> float:
        return float(s.arrivals) if self.cfg.metric == "rps" else s.concurrency

    def second(self, s: SecondStats) -> int | None:
        value = self._value(s)
        if s.ready > 0 or value > 0 or s.activator_queue > 0:
            self.kpa.record(s.t, value)  # the scrape at t (covering [t-1, t)) lands in bucket t
        if self.kpa.state.in_panic:
            self.panic_seconds += 1
        if int(round(s.t)) % self.cfg.tick_interval_s:
            return None
        return self._tick(s.t, s.ready)

    def poke(self, t: float, activator_concurrency: int, ready: int) -> int | None:
        if self.kpa.latest_desired != 0:
            return None
        self.kpa.record(t, float(activator_concurrency) if self.cfg.metric == "concurrency" else 1.0)
        return self._tick(t, ready)

    def _tick(self, t: float, ready: int) -> int | None:
        rr, _ = self.kpa.tick(t, ready)
        self.activator_in_path = rr.activator_in_path
        if rr.scale is not None:
            self.desired = rr.scale
        return rr.scale
