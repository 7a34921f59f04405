"""Search for the cheapest Knative settings that meet a latency SLO on a trace.

Why a search and not a formula: the cost of a setting depends on transients (panic overshoot behind the
activator, cold starts, scale-down delay keeping pods) that only the simulation shows. The search is a
small grid over the knobs that matter for this service -- containerConcurrency, target utilisation,
max-scale, scale-down-delay -- and, inside each grid point, the lowest min-scale floor that meets the
SLO (raising the floor only adds pods, so the first one that passes is that point's cheapest). Cost is
pod-seconds; an SLO is met when p99 counting failed requests as infinitely slow is within the bound and
the failure rate is within its budget. A floor above a set activation scale raises the activation scale
with it (Knative rejects min-scale > activation-scale; with the floor above it, it changes nothing).
Each candidate is labelled with the per-pod concurrency it assumes (containerConcurrency = the
function's workers + queue), which is what the patch then sets.

Imports: numpy, pydantic, ``function_bound``, ``kpa``, ``measurements``, ``simulation``, ``workload``;
never ``function`` or click (the CLI prints, this module only decides).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from planner.function_bound import FunctionBound
from planner.kpa import KnativeController, KpaConfig
from planner.measurements import ColdStartModel, ServiceTimeModel
from planner.simulation import PodModel, SimResult, simulate
from planner.workload import Trace


class Slo(BaseModel):
    model_config = ConfigDict(frozen=True)
    p99_s: float = Field(0.8, gt=0)
    max_error_rate: float = Field(0.001, ge=0, le=1)

    def met(self, r: SimResult) -> bool:
        return r.error_rate <= self.max_error_rate and r.p99_all <= self.p99_s


@dataclass(frozen=True)
class Candidate:
    cfg: KpaConfig
    result: SimResult
    meets: bool

    @property
    def cost(self) -> float:
        return self.result.pod_seconds


@dataclass(frozen=True)
class Recommendation:
    best: Candidate | None  # cheapest meeting the SLO; None when nothing did
    closest: Candidate  # lowest p99 among all (for when nothing met the SLO)
    evaluated: list[Candidate]


def describe(cfg: KpaConfig, workers: int) -> str:
    """A row label naming the concurrency a setting assumes, e.g. ``cc=4 (2 workers + 2 queued)``."""
    if cfg.container_concurrency:
        b = FunctionBound.for_pod(cfg.container_concurrency, workers)
        pod = f"cc={cfg.container_concurrency} ({b.workers} workers + {b.queue_size} queued)"
    else:
        pod = f"cc=unlimited ({workers} workers)"
    parts = [pod, f"target {cfg.utilization * 100:g} %", f"min-scale {cfg.min_scale}"]
    if cfg.max_scale:
        parts.append(f"max-scale {cfg.max_scale}")
    if cfg.scale_down_delay_s:
        parts.append(f"scale-down-delay {cfg.scale_down_delay_s}s")
    return ", ".join(parts)


def peak_pods(trace: Trace, service: ServiceTimeModel, cc: int) -> int:
    """Pods needed at the trace's busiest minute if each ran at ``cc`` (Little's law)."""
    if trace.n == 0:
        return 1
    per_min = np.bincount((trace.times // 60).astype(int))
    peak_qps = per_min.max() / 60.0
    return max(1, math.ceil(peak_qps / service.throughput(max(1, cc))))


def default_grid(trace: Trace, service: ServiceTimeModel, base: KpaConfig) -> dict[str, list]:
    sat = service.saturation_concurrency(16)
    ccs = sorted({1, 2, sat, 2 * sat} - {0})
    ccs = [c for c in ccs if c <= 16]
    need = peak_pods(trace, service, sat)
    return {
        "container_concurrency": ccs,
        "target_utilization_percentage": [70.0, 50.0],
        "max_scale": [0, max(2, math.ceil(1.5 * need))],
        "scale_down_delay_s": [0, 120, 600],
        "min_scale": list(range(0, need + 2)),
    }


def search(
    trace: Trace,
    service: ServiceTimeModel,
    cold: ColdStartModel,
    base: KpaConfig,
    slo: Slo,
    initial_pods: int,
    app_workers: int = 2,
    timeout_s: float = 300.0,
    seed: int = 0,
    grid: dict[str, Sequence] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Recommendation:
    """Evaluate the grid; inside each point, raise min-scale until the SLO is met."""
    g = dict(grid or default_grid(trace, service, base))
    mins = list(g.pop("min_scale", [base.min_scale]))
    keys = list(g)
    evaluated: list[Candidate] = []
    for combo in itertools.product(*(g[k] for k in keys)):
        over = dict(zip(keys, combo, strict=True))
        for m in mins:
            upd = {**over, "min_scale": m}
            if upd.get("max_scale") and m > upd["max_scale"]:
                break
            if base.activation_scale and m > base.activation_scale:
                upd["activation_scale"] = m
            try:
                cfg = KpaConfig.model_validate({**base.model_dump(), **upd})
            except ValueError:
                continue
            pods0 = max(initial_pods, cfg.min_scale)
            r = simulate(
                trace,
                KnativeController(cfg, pods0, name=f"recommended: {describe(cfg, app_workers)}"),
                service,
                cold,
                PodModel(container_concurrency=cfg.container_concurrency, app_workers=app_workers),
                initial_pods=pods0,
                timeout_s=timeout_s,
                seed=seed,
            )
            c = Candidate(cfg, r, slo.met(r))
            evaluated.append(c)
            if progress is not None:
                progress(1)
            if c.meets:
                break
    if not evaluated:
        raise ValueError("the search grid produced no valid configuration")
    ok = [c for c in evaluated if c.meets]
    best = min(ok, key=lambda c: (c.cost, c.result.p99_all)) if ok else None
    closest = min(evaluated, key=lambda c: (c.result.p99_all, c.result.error_rate, c.cost))
    return Recommendation(best=best, closest=closest, evaluated=evaluated)


def grid_size(grid: dict[str, Sequence]) -> int:
    n = 1
    for v in grid.values():
        n *= max(1, len(v))
    return n
