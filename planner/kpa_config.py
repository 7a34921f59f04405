"""``KpaConfig``: the KPA knobs of one revision, and how Knative resolves them into the decider's numbers.

Why one model for both levels: a revision runs with the ``config-autoscaler`` defaults overridden by its
own annotations; the simulation needs the merged view, and the recommendation varies it. Resolution
follows knative/serving exactly (facts, not code):

- per-pod target (``pkg/reconciler/autoscaling/resources/target.go``): total = containerConcurrency (or
  the ConfigMap's ``container-concurrency-target-default`` when 0) for concurrency, the ConfigMap's
  ``requests-per-second-target-default`` for RPS; a ``target`` annotation replaces it, capped by a non-zero
  containerConcurrency for concurrency; utilisation = the ConfigMap's ``container-concurrency-target-
  percentage`` for concurrency, a fixed 0.7 for RPS, and a ``target-utilization-percentage`` annotation
  overrides either; target = max(0.01, total x utilisation);
- panic window (``resources/metric.go``): stable window x percentage, rounded to whole seconds (half away
  from zero), at least one 1 s bucket;
- scale-down-delay window: ``ceil(delay / tick interval)`` ticks of 2 s (``scaling/multiscaler.go``);
- activation timeout of a never-ready revision: the progress deadline (config-deployment, 600 s) + 30 s
  (``kpa/scaler.go``'s buffer).

Imports: pydantic, ``knative_autoscaler_config`` (constants); never ``function`` or the simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planner.knative_autoscaler_config import RPS_TARGET_UTILIZATION, TARGET_MIN

#: knative/serving's decider tick (``tickInterval``).
TICK_INTERVAL_S = 2
#: ``activationTimeoutBuffer`` added to the progress deadline before a never-ready revision may go to 0.
ACTIVATION_TIMEOUT_BUFFER_S = 30.0


class KpaConfig(BaseModel):
    """A revision's autoscaling: ConfigMap defaults already overridden by its annotations.

    Defaults are Knative's (``../shared/knative-crds/serving-config-autoscaler.yaml``; target-burst-capacity
    is 211 there, not 200). Durations are seconds; the stable window and the scale-down delay are whole
    seconds, as Knative requires.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- the revision: spec.containerConcurrency and annotations with no ConfigMap counterpart
    container_concurrency: int = Field(0, ge=0, le=1000, description="spec.containerConcurrency; 0 = unlimited")
    metric: Literal["concurrency", "rps"] = "concurrency"
    target: float | None = Field(None, ge=TARGET_MIN, description="autoscaling.knative.dev/target")
    target_utilization_percentage: float | None = Field(
        None, ge=1, le=100, description="autoscaling.knative.dev/target-utilization-percentage (both metrics)")
    activation_scale: int = Field(0, ge=0, description="autoscaling.knative.dev/activation-scale; 0 = unset")
    # --- ConfigMap defaults that an annotation may override
    stable_window_s: int = Field(60, ge=6, le=3600)
    panic_window_percentage: float = Field(10.0, ge=1, le=100)
    panic_threshold_percentage: float = Field(200.0, gt=0, description="annotation: 110..1000")
    target_burst_capacity: float = Field(211.0, ge=-1)
    scale_down_delay_s: int = Field(0, ge=0, le=3600)
    scale_to_zero_pod_retention_period_s: float = Field(0.0, ge=0)
    min_scale: int = Field(0, ge=0)
    max_scale: int = Field(0, ge=0, description="0 = unbounded")
    initial_scale: int = Field(1, ge=0)
    # --- ConfigMap only (cluster-wide)
    container_concurrency_target_fraction: float = Field(
        0.7, gt=0, le=1, description="container-concurrency-target-percentage, as a fraction")
    container_concurrency_target_default: float = Field(100.0, gt=0)
    rps_target_default: float = Field(200.0, ge=TARGET_MIN)
    max_scale_up_rate: float = Field(1000.0, gt=1)
    max_scale_down_rate: float = Field(2.0, gt=1)
    enable_scale_to_zero: bool = True
    scale_to_zero_grace_period_s: float = Field(30.0, gt=0)
    allow_zero_initial_scale: bool = False
    progress_deadline_s: float = Field(600.0, gt=0, description="config-deployment progress-deadline")
    tick_interval_s: int = Field(TICK_INTERVAL_S, ge=1, description="decider period (Knative's tickInterval)")

    @model_validator(mode="after")
    def _check(self) -> KpaConfig:
        if self.target_burst_capacity < 0 and self.target_burst_capacity != -1:
            raise ValueError("target_burst_capacity must be -1 (unlimited) or >= 0")
        if self.initial_scale == 0 and not self.allow_zero_initial_scale:
            raise ValueError("initial_scale 0 needs allow_zero_initial_scale")
        if self.max_scale and self.min_scale > self.max_scale:
            raise ValueError("min_scale must not exceed max_scale")
        if self.activation_scale:
            # Knative's webhook: meaningful only from 2, and min-scale <= activation-scale <= max-scale.
            if self.activation_scale < 2:
                raise ValueError("activation_scale must be 0 (unset) or at least 2")
            if self.min_scale > self.activation_scale:
                raise ValueError("min_scale must not exceed activation_scale")
            if self.max_scale and self.max_scale < self.activation_scale:
                raise ValueError("max_scale must not be below activation_scale")
        return self

    # --- Knative's resolution -------------------------------------------------------------------------

    @property
    def utilization(self) -> float:
        """The fraction of ``total_value`` the autoscaler aims at (see the module doc)."""
        if self.target_utilization_percentage is not None:
            return self.target_utilization_percentage / 100.0
        return RPS_TARGET_UTILIZATION if self.metric == "rps" else self.container_concurrency_target_fraction

    @property
    def total_value(self) -> float:
        """The most a pod may carry of the scaling metric (Knative's ``TotalValue``)."""
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
    def panic_window_s(self) -> int:
        """Stable window x percentage in Go's nanosecond arithmetic, rounded half away from zero, >= 1 s."""
        ns = int(float(self.stable_window_s * 1_000_000_000) * self.panic_window_percentage / 100.0)
        return max(1, (ns + 500_000_000) // 1_000_000_000)

    @property
    def panic_threshold(self) -> float:
        return self.panic_threshold_percentage / 100.0

    @property
    def activation_timeout_s(self) -> float:
        return self.progress_deadline_s + ACTIVATION_TIMEOUT_BUFFER_S

    def decider_spec(self, reachable: bool = True) -> DeciderSpec:
        """What Knative's ``MakeDecider`` hands the per-revision autoscaler."""
        return DeciderSpec(
            target_value=self.target_value,
            total_value=self.total_value,
            target_burst_capacity=self.target_burst_capacity,
            panic_threshold=self.panic_threshold,
            max_scale_up_rate=self.max_scale_up_rate,
            max_scale_down_rate=self.max_scale_down_rate,
            stable_window_s=float(self.stable_window_s),
            scale_down_delay_s=float(self.scale_down_delay_s),
            activation_scale=self.activation_scale,
            reachable=reachable,
            tick_interval_s=self.tick_interval_s,
        )


@dataclass(frozen=True)
class DeciderSpec:
    """The resolved numbers one decider tick uses (Knative's ``DeciderSpec``)."""

    target_value: float
    total_value: float
    target_burst_capacity: float
    panic_threshold: float
    max_scale_up_rate: float
    max_scale_down_rate: float
    stable_window_s: float
    scale_down_delay_s: float = 0.0
    activation_scale: int = 0
    reachable: bool = True
    tick_interval_s: int = TICK_INTERVAL_S

    @property
    def delay_ticks(self) -> int:
        """Size of the scale-down-delay max window: delay / tick interval, rounded up."""
        return math.ceil(self.scale_down_delay_s / self.tick_interval_s)
