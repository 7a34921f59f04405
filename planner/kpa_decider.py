"""One tick of knative/serving's per-revision autoscaler (``pkg/autoscaler/scaling/autoscaler.go``).

Input: the resolved ``DeciderSpec``, the observed stable and panic values, the ready pod count, the time and
the previous ``DeciderState``. Output: desired pods, excess burst capacity, and the next state (panic mode
and the scale-down-delay window). Facts reproduced, arithmetic for arithmetic:

- zero ready pods count as one for the rate limits and the panic ratio;
- desired = ceil(observed / target), kept within [floor(ready / max-scale-down-rate),
  ceil(max-scale-up-rate x ready)]; no lower bound (no scale-down limit) while the revision is unreachable;
- an activation scale above 1 lifts any non-zero demand to it;
- panic starts (and is extended) when panic pods / ready >= the threshold, and ends once a whole stable
  window has passed since it was last extended; while panicking the larger of stable and panic pods
  counts, and the count never goes down;
- the scale-down delay keeps the maximum of the last ``ceil(delay / 2 s)`` ticks' decisions, only while
  the revision is reachable (an unreachable revision is neither delayed nor recorded);
- excess burst capacity = floor(ready x total - target burst capacity - panic value) (0 when TBC is 0,
  -1 when it is unlimited).

Pure: the same spec, state and observation always give the same answer. Imports: ``kpa_config``
(``DeciderSpec``) only; never ``function`` or the simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.kpa_config import DeciderSpec


@dataclass(frozen=True)
class Observation:
    """What the decider sees at one tick."""

    now: float
    stable: float | None  # None = no data for a whole stable window (Knative's ErrNoData)
    panic: float
    ready_pods: int


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


INVALID = ScaleResult(desired_pods=0, excess_burst_capacity=0, valid=False)


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


def decide(spec: DeciderSpec, state: DeciderState, obs: Observation) -> tuple[ScaleResult, DeciderState]:
    """One autoscaler tick: desired pod count and excess burst capacity, plus the next state."""
    if obs.stable is None:
        return INVALID, state
    original_ready = max(0, obs.ready_pods)
    ready = float(max(1, original_ready))
    max_up = math.ceil(spec.max_scale_up_rate * ready)
    max_down = math.floor(ready / spec.max_scale_down_rate) if spec.reachable else 0.0
    tv = spec.target_value
    dspc = math.ceil(obs.stable / tv)
    dppc = math.ceil(obs.panic / tv)
    stable_pods = int(min(max(dspc, max_down), max_up))
    panic_pods = int(min(max(dppc, max_down), max_up))
    if spec.activation_scale > 1:
        if dspc > 0 and spec.activation_scale > stable_pods:
            stable_pods = spec.activation_scale
        if dppc > 0 and spec.activation_scale > panic_pods:
            panic_pods = spec.activation_scale

    over = dppc / ready >= spec.panic_threshold
    panic_time, max_panic = state.panic_time, state.max_panic_pods
    if over:
        panic_time = obs.now  # start panicking, or extend the panic
    elif panic_time is not None and panic_time + spec.stable_window_s < obs.now:
        panic_time, max_panic = None, 0  # the surge has reached the stable window: leave panic

    desired = stable_pods
    if panic_time is not None:
        desired = max(desired, panic_pods)
        if desired > max_panic:
            max_panic = desired
        desired = max_panic  # never scale down while panicking

    delay = state.delay
    if spec.reachable and spec.scale_down_delay_s > 0:
        delay = _delay_record(delay, spec.delay_ticks, int(obs.now) // spec.tick_interval_s, desired)
        desired = delay[0][1]

    tbc = spec.target_burst_capacity
    if tbc == 0:
        ebc = 0.0
    elif tbc > 0:
        ebc = math.floor(original_ready * spec.total_value - tbc - obs.panic)
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


def initial_excess_burst_capacity(initial_scale: int, total_value: float, target_burst_capacity: float) -> int:
    """EBC before the first valid tick: initial scale x total - TBC (or the TBC sentinel itself)."""
    if target_burst_capacity in (-1, 0):
        return int(target_burst_capacity)
    return int(initial_scale * total_value - target_burst_capacity)
