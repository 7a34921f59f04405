"""Kubernetes HorizontalPodAutoscaler (autoscaling/v2) on CPU, as the seed article configures it.

Why model it: the seed's HPA (CPU 70 %, min 1, max 10) is the baseline KPA must beat. The arithmetic
follows the HPA controller's documented algorithm:

- every ``--horizontal-pod-autoscaler-sync-period`` (15 s) the replica calculator computes
  ``ceil(ready_pods x utilisation / target)``; a ratio within the 0.1 tolerance changes nothing;
  not-yet-ready pods are ignored when scaling down and counted at 0 % when scaling up (and if that flips
  the direction or lands within tolerance, nothing changes);
- the default behaviour: scale-up stabilisation 0 s, policies "100 % or 4 pods per 15 s, whichever is
  more"; scale-down stabilisation 300 s (the highest recommendation of the last 5 min wins), policy
  "100 % per 15 s"; then min/max replicas.

CPU utilisation is what metrics-server would report: CPU-seconds used over the last ``metric_window_s``
divided by (ready pod-seconds x CPU request).

Imports: pydantic and the standard library (``SecondStats`` only for typing); never ``function``,
``kpa`` or ``keda``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from planner.simulation import SecondStats


class HpaPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["Percent", "Pods"]
    value: int = Field(gt=0)
    period_s: int = Field(gt=0, le=1800)


class HpaBehavior(BaseModel):
    """``spec.behavior`` with the Kubernetes defaults."""

    model_config = ConfigDict(frozen=True)
    scale_up_stabilization_s: int = 0
    scale_down_stabilization_s: int = 300
    scale_up_policies: tuple[HpaPolicy, ...] = (
        HpaPolicy(type="Percent", value=100, period_s=15),
        HpaPolicy(type="Pods", value=4, period_s=15),
    )
    scale_down_policies: tuple[HpaPolicy, ...] = (HpaPolicy(type="Percent", value=100, period_s=15),)
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"


class HpaConfig(BaseModel):
    """The seed's HPA: CPU 70 %, 1..10 replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(10, ge=1)
    target_utilization: float = Field(70.0, gt=0)
    sync_period_s: int = Field(15, ge=1)
    tolerance: float = Field(0.1, ge=0)
    metric_window_s: int = Field(15, ge=1, description="metrics-server resolution")
    behavior: HpaBehavior = HpaBehavior()


def cpu_replicas(ready: int, unready: int, utilization: float, target: float, current: int, tolerance: float = 0.1) -> int:
    """The replica calculator for a CPU utilisation target (percentages).

    ``utilization`` is the average over ready pods. Unready pods count as 0 % only when scaling up.
    """
    if ready == 0:
        return current
    ratio = utilization / target
    if not unready:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    if ratio <= 1.0:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    new_ratio = utilization * ready / (target * (ready + unready))
    if abs(1.0 - new_ratio) <= tolerance or new_ratio < 1.0:
        return current
    return math.ceil(new_ratio * (ready + unready))


def average_value_replicas(metric_total: float, target_per_pod: float, current: int, tolerance: float = 0.1) -> int:
    """External metric with an AverageValue target (what KEDA generates): ``ceil(total / target)``.

    Within tolerance of the current per-pod value nothing changes.
    """
    if current > 0:
        ratio = metric_total / (target_per_pod * current)
        if abs(1.0 - ratio) <= tolerance:
            return current
    return math.ceil(metric_total / target_per_pod)


@dataclass
class BehaviorState:
    """Recommendation history and scale events the behaviour rules look back on."""

    recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    events: deque[tuple[float, int]] = field(default_factory=deque)  # (time, replica change)


def normalize(
    cfg: HpaConfig, state: BehaviorState, now: float, current: int, proposed: int, min_replicas: int | None = None
) -> int:
    """Apply stabilisation windows, rate policies and min/max to a raw recommendation."""
    b = cfg.behavior
    lo = cfg.min_replicas if min_replicas is None else min_replicas
    # Stabilisation: the most conservative recommendation inside each window.
    keep = max(b.scale_up_stabilization_s, b.scale_down_stabilization_s)
    while state.recommendations and state.recommendations[0][0] <= now - keep:
        state.recommendations.popleft()
    up_rec = down_rec = proposed
    for ts, rec in state.recommendations:
        if ts > now - b.scale_up_stabilization_s:
            up_rec = min(up_rec, rec)
        if ts > now - b.scale_down_stabilization_s:
            down_rec = max(down_rec, rec)
    state.recommendations.append((now, proposed))
    desired = current
    if desired < up_rec:
        desired = up_rec
    if desired > down_rec:
        desired = down_rec

    horizon = max([p.period_s for p in b.scale_up_policies + b.scale_down_policies] or [0])
    while state.events and state.events[0][0] <= now - horizon:
        state.events.popleft()
    if desired > current and b.select_policy != "Disabled":
        limits = []
        for p in b.scale_up_policies:
            added = sum(d for ts, d in state.events if ts > now - p.period_s and d > 0)
            start = current - added
            limits.append(start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100)))
        limit = max(limits) if b.select_policy == "Max" else min(limits)
        desired = min(desired, limit, cfg.max_replicas)
    elif desired < current and b.select_policy != "Disabled":
        limits = []
        for p in b.scale_down_policies:
            deleted = sum(-d for ts, d in state.events if ts > now - p.period_s and d < 0)
            start = current + deleted
            limits.append(start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100)))
        limit = min(limits) if b.select_policy == "Max" else max(limits)
        desired = max(desired, limit, lo)
    elif b.select_policy == "Disabled":
        desired = current
    desired = min(max(desired, lo), cfg.max_replicas)
    if desired != current:
        state.events.append((now, desired - current))
    return desired


class HpaController:
    """HPA on CPU utilisation over a plain Deployment (no activator, no queue-proxy)."""

    activator_in_path = False
    buffers_at_zero = False

    def __init__(self, cfg: HpaConfig, initial_pods: int, cpu_request: float = 1.0, name: str = "HPA cpu 70%") -> None:
        self.cfg = cfg
        self.name = name
        self.cpu_request = cpu_request
        self.desired = initial_pods
        self.state = BehaviorState()
        self.state.recommendations.append((0.0, initial_pods))  # as if it had been running at this scale
        self._cpu: deque[float] = deque(maxlen=cfg.metric_window_s)
        self._ready: deque[int] = deque(maxlen=cfg.metric_window_s)

    def utilization(self) -> float:
        pod_s = sum(self._ready)
        return 100.0 * sum(self._cpu) / (pod_s * self.cpu_request) if pod_s else 0.0

    def second(self, s: SecondStats) -> int | None:
        self._cpu.append(s.cpu_seconds)
        self._ready.append(s.ready)
        if int(round(s.t)) % self.cfg.sync_period_s:
            return None
        current = self.desired
        if current == 0:
            return None  # scaling is disabled at 0 replicas
        raw = cpu_replicas(s.ready, s.starting, self.utilization(), self.cfg.target_utilization, current, self.cfg.tolerance)
        self.desired = normalize(self.cfg, self.state, s.t, current, raw)
        return self.desired

    def poke(self, t: float, activator_concurrency: int, ready: int) -> int | None:
        return None
