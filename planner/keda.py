"""KEDA ScaledObject with a Prometheus trigger (QPS threshold 10), as the seed article configures it.

Why it behaves as it does:

- KEDA hands 1..N scaling to an HPA it owns, on an External metric with an ``AverageValue`` target equal
  to the threshold: ``desired = ceil(metric / threshold)`` every HPA sync (15 s), HPA tolerance and
  default behaviour (300 s scale-down stabilisation) included;
- KEDA itself only polls (``pollingInterval``, 30 s) to activate from 0 replicas and, after
  ``cooldownPeriod`` (300 s) without activity, to scale to ``minReplicaCount`` -- which defaults to 0,
  and the seed's ScaledObject does not set it;
- the seed's query ``sum(rate(emotivoice_request_duration_seconds_count[2m]))`` counts *completed*
  requests averaged over 2 minutes, as Prometheus last scraped them (every ``scrape_interval_s``).
  Completions cannot exceed what the running pods can serve, so under overload the metric understates
  demand; and with no pod there are no completions, so a scaled-to-zero deployment never reactivates.
  (Its ``by (instance)`` clause also returns one series per pod, which KEDA's Prometheus scaler rejects
  as "multiple elements" once there are two pods; the model assumes that clause removed.)

Imports: pydantic, the standard library and ``hpa`` (KEDA drives an HPA); never ``function`` or
``kpa``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from planner.hpa import BehaviorState, HpaConfig, average_value_replicas, normalize

if TYPE_CHECKING:
    from planner.simulation import SecondStats


class KedaConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    threshold: float = Field(10.0, gt=0)
    activation_threshold: float = Field(0.0, ge=0)
    polling_interval_s: int = Field(30, ge=1)
    cooldown_period_s: int = Field(300, ge=0)
    min_replicas: int = Field(0, ge=0)
    max_replicas: int = Field(100, ge=1)
    rate_window_s: int = Field(120, ge=1)
    scrape_interval_s: int = Field(15, ge=1)
    metric: Literal["completions", "arrivals"] = "completions"
    hpa: HpaConfig = HpaConfig(min_replicas=1, max_replicas=100)


class KedaController:
    """KEDA operator + its HPA over a plain Deployment (no activator: requests at 0 pods fail)."""

    activator_in_path = False
    buffers_at_zero = False

    def __init__(self, cfg: KedaConfig, initial_pods: int, name: str = "KEDA qps>10") -> None:
        self.cfg = cfg
        self.name = name
        self.desired = initial_pods
        self.state = BehaviorState()
        self.state.recommendations.append((0.0, initial_pods))  # as if it had been running at this scale
        self.hpa_cfg = cfg.hpa.model_copy(
            update={"min_replicas": max(1, cfg.min_replicas), "max_replicas": cfg.max_replicas}
        )
        self._counts: deque[int] = deque(maxlen=cfg.rate_window_s)
        self.metric = 0.0  # value of the query at the last Prometheus scrape
        self.last_active = 0.0

    def query(self) -> float:
        """``sum(rate(counter[window]))``: events in the window / window."""
        return sum(self._counts) / self.cfg.rate_window_s

    def second(self, s: SecondStats) -> int | None:
        self._counts.append(s.completions if self.cfg.metric == "completions" else s.arrivals)
        t = int(round(s.t))
        if t % self.cfg.scrape_interval_s == 0:
            self.metric = self.query()
        out: int | None = None
        if t % self.cfg.polling_interval_s == 0:
            active = self.metric > self.cfg.activation_threshold
            if active:
                self.last_active = s.t
                if self.desired == 0:
                    self.desired = max(1, self.cfg.min_replicas)
                    out = self.desired
            elif self.desired > self.cfg.min_replicas and s.t - self.last_active >= self.cfg.cooldown_period_s:
                if self.cfg.min_replicas == 0:
                    self.desired = 0
                    self.state = BehaviorState()
                    out = 0
        if t % self.hpa_cfg.sync_period_s == 0 and self.desired > 0 and out is None:
            raw = average_value_replicas(self.metric, self.cfg.threshold, self.desired, self.hpa_cfg.tolerance)
            new = normalize(self.hpa_cfg, self.state, s.t, self.desired, raw)
            if new != self.desired:
                self.desired = new
                out = new
        return out

    def poke(self, t: float, activator_concurrency: int, ready: int) -> int | None:
        return None
