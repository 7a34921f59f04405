"""What the KPA reconciler does with the decider's number (``pkg/reconciler/autoscaling/kpa``).

Facts reproduced (``scaler.go``, ``kpa.go``):

- bounds: min-scale (ignored while the revision is unreachable), then max-scale (0 = none); until the
  revision first reaches its initial scale, an initial scale above 1 raises the floor -- unless the
  revision is unreachable;
- scale to zero (``handleScaleToZero``): disabled -> 1 pod; activating -> wait, until the activation
  timeout (progress deadline + 30 s) has passed; active -> keep at most 1 pod until it has been active for
  a stable window, then mark it inactive (the activator goes in front) and keep the pods; inactive ->
  scale to 0 once inactive for max(grace period, pod retention), keep the last pod while inactive for less
  than the retention (no retention for an unreachable revision), else scale to 0 as soon as the activator
  has been in the path for the grace period;
- the Active condition (``computeActiveCondition``) and the activator in the path: the SKS serves
  directly only while the reconciler wants pods (> 0) and excess burst capacity is not negative.

Pure functions of (config, PA state, inputs). Imports: ``kpa_config`` only; never ``function``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planner.kpa_config import KpaConfig

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


def apply_bounds(lo: int, hi: int, x: int) -> int:
    """min first, then max (0 = unbounded), as Knative's ``applyBounds``."""
    if x < lo:
        return lo
    if hi > 0 and x > hi:
        return hi
    return x


def _bounds(cfg: KpaConfig, reachable: bool, pa: PaState) -> tuple[int, int]:
    lo = cfg.min_scale if reachable else 0
    if cfg.initial_scale > 1 and not pa.scale_target_initialized and reachable:
        lo = max(lo, cfg.initial_scale)
    return lo, cfg.max_scale


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
    """One reconcile with the decider's latest desired scale (-1 before the first valid one).

    Returns the replica count to apply (or None to leave the deployment alone), the reconciler's
    ``want``, whether the activator is in the request path, and the new PA status.
    """
    scale: int | None
    want: int
    if desired < 0 and pa.status != "activating":
        scale, want = None, desired
    else:
        lo, hi = _bounds(cfg, reachable, pa)
        scale, want = _scale_to_zero(cfg, pa, apply_bounds(lo, hi, desired), now, reachable)

    # Active condition.
    min_ready = _active_threshold(cfg, reachable, pa)
    initialized = pa.scale_target_initialized or ready_pods >= min_ready
    status, since = pa.status, pa.since
    new: PaStatus
    if want == 0 or min_ready == 0:
        new = "inactive"
    elif ready_pods < min_ready:
        new = "activating" if (want > 0 or pa.status != "inactive") else "inactive"
    else:
        new = "active" if (want > 0 or pa.status != "inactive") else pa.status
    if new != status:
        status, since = new, now

    proxy = not (want > 0 and ebc >= 0)
    proxy_since = pa.proxy_since
    if proxy and proxy_since is None:
        proxy_since = now
    elif not proxy:
        proxy_since = None
    new_pa = PaState(status=status, since=since, scale_target_initialized=initialized, proxy_since=proxy_since)
    return ReconcileResult(scale=scale, want=want, activator_in_path=proxy), new_pa


def _scale_to_zero(cfg: KpaConfig, pa: PaState, desired: int, now: float, reachable: bool) -> tuple[int | None, int]:
    """Knative's ``handleScaleToZero``: returns (scale to apply or None, want)."""
    if desired != 0:
        return desired, desired
    if not cfg.enable_scale_to_zero:
        return 1, 1
    if pa.status == "activating":
        if now - pa.since >= cfg.activation_timeout_s:
            return 0, 0
        return None, -1
    if pa.status == "active":
        if now - pa.since >= cfg.stable_window_s:
            return None, 0  # mark inactive (activator goes in the path), keep the pods for now
        return 1, 1  # at most one pod for the rest of the idle stable window
    # inactive: the activator is in the path (always probed successfully in the simulation)
    inactive_for = now - pa.since
    retention = cfg.scale_to_zero_pod_retention_period_s if reachable else 0.0
    if inactive_for >= max(cfg.scale_to_zero_grace_period_s, retention):
        return 0, 0
    if retention > 0 and inactive_for < retention:
        return None, 0
    proxy_for = 0.0 if pa.proxy_since is None else now - pa.proxy_since
    if cfg.scale_to_zero_grace_period_s - proxy_for <= 0:
        return 0, 0  # fast path: the activator has been in the path long enough already
    return None, 0
