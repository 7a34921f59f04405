"""Knative's KPA as the simulation drives it: metric buckets, decider and reconciler bundled per revision.

Why a re-implementation: the seed article's claims (2 -> 8 replicas in 90 s, P99 < 800 ms) can only be
checked before the festival by replaying Knative's own decision rules on our measured numbers. The rules
live in one module each, written from knative/serving's semantics (not copied) and checked against its
unit tests' vectors (``tests/planner/test_knative_vectors.py``):

- ``kpa_config``: the knobs and how Knative resolves them (targets, panic window, activation timeout);
- ``metric_buckets``: what "observed stable / panic value" means (``TimedFloat64Buckets``);
- ``kpa_decider``: one autoscaler tick (panic, rate limits, activation scale, scale-down delay, EBC);
- ``kpa_reconciler``: bounds, initial scale, scale to zero, the Active condition, activator in the path.

This module glues them together for the simulation: ``Kpa`` (one revision's autoscaler) and
``KnativeController`` (its ``simulation.Controller``). The names above are re-exported here.

Imports: the planner's KPA modules (``SecondStats`` only for typing); never ``function`` or the other
autoscaler models.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from planner.kpa_config import DeciderSpec, KpaConfig
from planner.kpa_decider import (
    DeciderState,
    Observation,
    ScaleResult,
    decide,
    initial_excess_burst_capacity,
)
from planner.kpa_reconciler import PaState, ReconcileResult, apply_bounds, reconcile
from planner.metric_buckets import TimedBuckets

if TYPE_CHECKING:
    from planner.simulation import SecondStats

__all__ = [
    "DeciderSpec", "DeciderState", "KnativeController", "Kpa", "KpaConfig", "Observation", "PaState",
    "ReconcileResult", "ScaleResult", "TimedBuckets", "apply_bounds", "decide", "initial_excess_burst_capacity",
    "reconcile",
]


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
    _spec: DeciderSpec = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._spec = self.cfg.decider_spec()
        self.stable = TimedBuckets(self.cfg.stable_window_s)
        self.panic = TimedBuckets(self.cfg.panic_window_s)
        self.latest_ebc = initial_excess_burst_capacity(
            self.cfg.initial_scale, self.cfg.total_value, self.cfg.target_burst_capacity)

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
        spec = self._spec if reachable else replace(self._spec, reachable=False)
        sr, self.state = decide(spec, self.state, Observation(now, stable, panic, ready_pods))
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
