"""Discrete-event simulation of the service's pods under an autoscaler.

Why a simulation and not a formula: the seed's claims are about transients (a burst, a cold start, a
night scale-down) where queueing, start-up times and the autoscaler's windows interact.

Model (every assumption stated, see also ``measurements``):

- Requests arrive from a ``Trace``. Each has a text length (from the trace or drawn from the measured
  mix) and a concurrency-1 service time drawn from the measured model. When it starts on a pod with ``b``
  requests in service (itself included), it takes ``base x slowdown(b)``.
- A pod has ``slots`` service slots: ``containerConcurrency`` for Knative when set, otherwise the app's
  own worker threads (``app_workers``). Knative's queue-proxy queues up to ``10 x containerConcurrency``
  more and answers 503 beyond that; with unlimited concurrency (or under HPA/KEDA, no queue-proxy)
  the queue is unbounded.
- Routing: directly to a uniformly random ready pod, unless the activator is in the path (Knative's SKS
  proxy mode, or no ready pod at all). The activator buffers requests and hands each to a ready pod with
  a free slot, so no queue-proxy 503s happen behind it. HPA/KEDA deployments have no activator: with no
  ready pod a request is refused (503).
- A request still waiting when its timeout (``timeout_s`` from arrival, Knative's revision timeout, 300 s
  by default) passes is dropped as timed out. One already in service past its deadline is reported
  timed out at the deadline, but its pod slot stays busy until the synthesis finishes (CPU-bound work is
  not interrupted).
- New pods become ready after a start-up time drawn from the cold-start benchmark plus a scheduling
  overhead. Scale-down removes starting pods first, then the most recently ready; a removed ready pod
  drains its in-flight and queued requests, then stops.
- Cost is pod-seconds: every pod from creation (start-up included) until it is gone. A pod marked for
  removal is still there while it terminates: behind Knative's queue-proxy it stays at least the
  queue-proxy's drain period (30 s after SIGTERM, ``drainSleepDuration``, even when idle or still
  starting), and longer while it finishes what it holds, up to its termination grace period (Knative sets
  ``terminationGracePeriodSeconds`` to the revision's timeout, the request timeout here). Without a
  queue-proxy (HPA/KEDA deployments) a pod is gone once its in-flight work is done.
- Metrics every 1 s: average in-flight concurrency (queue-proxy + activator), arrivals, completions and
  CPU-seconds (per-pod CPU = min(cores, b x k / slowdown(b)) where one request alone uses ``k`` cores,
  derived from the measured contention).

Code layout, top to bottom: the public types (``SecondStats``, ``Controller``, ``PodModel``,
``SimResult``); the parts of the simulated system, one class each (``_Requests``: arrivals and outcomes,
``_Events``: the future-event queue, ``_Meter``: what the metric pipelines see, ``_Pods``: pod lifecycle
and service slots, ``_Activator``, ``_Router``: where an arrival goes, ``_Timeline``); then ``simulate``,
the loop that advances time and asks the parts to act.

Imports: numpy, the standard library and the planner's own ``measurements`` and ``workload``; never the
serving package ``function`` (the planner is not deployed with it) nor ``kpa``/``hpa``/``keda`` (the
autoscalers plug in through ``Controller``; they import this module, not the reverse).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from planner.measurements import ColdStartModel, ServiceTimeModel
from planner.workload import Trace

QUEUED, IN_SERVICE, DONE, REJECTED, TIMED_OUT = 0, 1, 2, 3, 4
STARTING, READY, DRAINING, STOPPED = 0, 1, 2, 3
_EV_COMPLETE, _EV_READY, _EV_TIMEOUT = 0, 1, 2
#: knative/serving's queue-proxy sleeps this long after SIGTERM before it shuts down (``drainSleepDuration``).
QUEUE_PROXY_DRAIN_S = 30.0


@dataclass(frozen=True)
class SecondStats:
    """What the metric pipelines see for the second ending at ``t``."""

    t: float
    arrivals: int
    completions: int
    concurrency: float  # time-averaged in-flight requests (queue-proxy + activator)
    cpu_seconds: float
    ready: int
    starting: int
    activator_queue: int


class Controller(Protocol):
    """An autoscaler plugged into the simulation."""

    name: str
    activator_in_path: bool  # Knative's SKS proxy mode
    buffers_at_zero: bool  # an activator holds requests while no pod is ready
    desired: int

    def second(self, s: SecondStats) -> int | None:
        """Called once a simulated second; returns replicas to set, or None to leave them."""
        ...

    def poke(self, t: float, activator_concurrency: int, ready: int) -> int | None:
        """Called when a request arrives with no ready pod (Knative ticks at once when scaled to 0)."""
        ...


@dataclass(frozen=True)
class PodModel:
    """Per-pod knobs shared by every autoscaler being compared."""

    container_concurrency: int = 0  # Knative hard limit; 0 = none
    app_workers: int = 2  # the app's synthesis threads (EMOTIVOICE_WORKERS)
    queue_proxy: bool = True  # Knative's queue-proxy in front of the app (its 10 x CC queue)
    cores: float = 2.0  # CPU limit
    cpu_request: float = 1.0  # for HPA utilisation

    drain_s: float | None = None  # terminating pod's minimum stay; None: QUEUE_PROXY_DRAIN_S behind a queue-proxy, else 0
    termination_grace_s: float | None = None  # its maximum stay; None: the request (revision) timeout

    @property
    def slots(self) -> int:
        return self.container_concurrency or self.app_workers

    @property
    def drain_period_s(self) -> float:
        if self.drain_s is not None:
            return self.drain_s
        return QUEUE_PROXY_DRAIN_S if self.queue_proxy else 0.0

    @property
    def queue_limit(self) -> float:
        if self.queue_proxy and self.container_concurrency > 0:
            return 10 * self.container_concurrency
        return math.inf


@dataclass
class SimResult:
    name: str
    n: int
    completed: int
    rejected: int
    timed_out: int
    latencies: np.ndarray  # completed requests, seconds
    latency_at: np.ndarray  # arrival time of each completed request
    failed_at: np.ndarray  # arrival times of rejected or timed-out requests
    pod_seconds: float
    pod_starts: int
    cold_requests: int  # arrivals that found no ready pod
    end_s: float
    timeline: dict[str, np.ndarray] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if len(self.latencies) else math.nan

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p95(self) -> float:
        return self.pct(95)

    @property
    def p99(self) -> float:
        return self.pct(99)

    @property
    def error_rate(self) -> float:
        return (self.rejected + self.timed_out) / self.n if self.n else 0.0

    @property
    def p99_all(self) -> float:
        """p99 counting every failed request as infinitely slow: what a client-side SLO sees."""
        if not self.n:
            return math.nan
        if self.error_rate > 0.01:
            return math.inf
        k = self.n - len(self.latencies)
        lat = np.concatenate([self.latencies, np.full(k, np.inf)])
        return float(np.percentile(lat, 99, method="higher"))

    def summary(self) -> dict[str, float | int | str]:
        return {
            "autoscaler": self.name,
            "requests": self.n,
            "completed": self.completed,
            "rejected": self.rejected,
            "timed_out": self.timed_out,
            "p50_ms": round(self.p50 * 1000, 1),
            "p95_ms": round(self.p95 * 1000, 1),
            "p99_ms": round(self.p99 * 1000, 1),
            "max_ms": round(float(self.latencies.max()) * 1000, 1) if len(self.latencies) else math.nan,
            "pod_seconds": round(self.pod_seconds, 1),
            "pod_starts": self.pod_starts,
            "cold_requests": self.cold_requests,
            "max_ready": int(self.timeline["ready"].max()) if len(self.timeline.get("ready", [])) else 0,
        }


class _Pod:
    """One pod: its state, requests in service (``busy``) and its own queue (``q``; ``qlen`` counts only
    the requests still waiting, timed-out ones are skipped when they reach the front)."""

    __slots__ = ("id", "state", "busy", "q", "qlen", "created", "ready_at", "removed", "stopped")

    def __init__(self, pid: int, created: float) -> None:
        self.id = pid
        self.state = STARTING
        self.busy = 0
        self.q: deque[int] = deque()
        self.qlen = 0
        self.created = created
        self.ready_at = math.nan
        self.removed = math.nan  # marked for removal (SIGTERM)
        self.stopped = math.nan  # gone: no longer costs anything


def cpu_table(model: ServiceTimeModel, cores: float, n: int = 257) -> list[float]:
    """CPU cores a pod burns with b requests in service, b = 0..n-1 (see module doc)."""
    best = max(b / model.slowdown(b) for b in range(1, 65))
    k = cores / max(1.0, best)  # cores one request uses alone
    return [0.0] + [min(cores, b * k / model.slowdown(b)) for b in range(1, n)]


# --- the parts ------------------------------------------------------------------------------------------
# Each part owns one piece of state; ``simulate`` at the bottom is the loop that moves time forward and
# asks them to act. The parts hold plain lists and ints (no numpy in the loop): a 24 h trace is ~1.6 M
# requests, so every attribute access in here is paid millions of times.


class _Requests:
    """The trace's requests and how each one ended.

    Owns every request's arrival time, concurrency-1 service time (drawn once, up front, so the random
    stream does not depend on scheduling), state and waiting place, and the outcome tallies. Every way a
    request can end goes through one method here, so ``completed + rejected + timed_out == n`` holds by
    construction.
    """

    __slots__ = ("n", "arrival", "base", "status", "where", "timeout_s", "next", "latencies", "latency_at",
                 "failed_at", "completed", "rejected", "timed_out", "cold")

    def __init__(self, trace: Trace, service: ServiceTimeModel, rng: np.random.Generator, timeout_s: float) -> None:
        self.n = trace.n
        self.arrival: list[float] = trace.times.tolist()
        chars = trace.chars if trace.chars is not None else service.draw_chars(rng, self.n)
        self.base: list[float] = service.draw_base(rng, np.asarray(chars)).tolist()
        self.status = [QUEUED] * self.n
        self.where: list[_Pod | None] = [None] * self.n  # the pod whose queue holds it; None: the activator
        self.timeout_s = timeout_s
        self.next = 0  # index of the next arrival
        self.latencies: list[float] = []
        self.latency_at: list[float] = []
        self.failed_at: list[float] = []
        self.completed = self.rejected = self.timed_out = 0
        self.cold = 0  # arrivals that found no ready pod

    def next_arrival(self) -> float:
        return self.arrival[self.next] if self.next < self.n else math.inf

    def deadline(self, rid: int) -> float:
        return self.arrival[rid] + self.timeout_s

    def reject(self, rid: int, now: float) -> None:
        """Refused at once (503): queue-proxy full, or no pod and no activator to wait in."""
        self.status[rid] = REJECTED
        self.rejected += 1
        self.failed_at.append(now)

    def time_out(self, rid: int) -> None:
        """Its deadline passed while waiting, or will pass before its service ends."""
        self.status[rid] = TIMED_OUT
        self.timed_out += 1
        self.failed_at.append(self.arrival[rid])

    def finish(self, rid: int, now: float) -> None:
        """Its service ended; it counts as completed unless it had already been reported timed out."""
        if self.status[rid] == IN_SERVICE:
            self.status[rid] = DONE
            self.completed += 1
            self.latencies.append(now - self.arrival[rid])
            self.latency_at.append(self.arrival[rid])


class _Events:
    """Future events in time order: a pod becoming ready, a service ending, a waiting request's deadline.

    Ties are broken by insertion order (a sequence number), which keeps runs deterministic.
    """

    __slots__ = ("heap", "seq")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, int, _Pod | None, int]] = []
        self.seq = 0

    def push(self, t: float, kind: int, pod: _Pod | None, rid: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, pod, rid))

    def next_time(self) -> float:
        return self.heap[0][0] if self.heap else math.inf

    def pop(self) -> tuple[float, int, _Pod | None, int]:
        t, _, kind, pod, rid = heapq.heappop(self.heap)
        return t, kind, pod, rid


class _Meter:
    """What the metric pipelines see: time integrals of in-flight requests and CPU, per-second counts.

    ``advance`` must be called whenever time moves, before anything changes the integrands
    (``in_system``, ``cpu_rate``); ``close_second`` hands a second's totals to the autoscaler.
    """

    __slots__ = ("in_system", "area", "cpu_rate", "cpu_area", "last_t", "arrivals", "completions", "cpu_tab", "n_tab")

    def __init__(self, cpu_tab: list[float]) -> None:
        self.in_system = 0  # requests in queue-proxy, app or activator
        self.area = 0.0  # integral of in_system over the current second
        self.cpu_rate = 0.0  # cores burnt now, all pods
        self.cpu_area = 0.0
        self.last_t = 0.0
        self.arrivals = 0
        self.completions = 0
        self.cpu_tab = cpu_tab
        self.n_tab = len(cpu_tab) - 1

    def advance(self, now: float) -> None:
        self.area += self.in_system * (now - self.last_t)
        self.cpu_area += self.cpu_rate * (now - self.last_t)
        self.last_t = now

    def busy_changed(self, old: int, new: int) -> None:
        """A pod went from ``old`` to ``new`` requests in service: its CPU draw changes."""
        n = self.n_tab
        self.cpu_rate += self.cpu_tab[new if new < n else n] - self.cpu_tab[old if old < n else n]

    def close_second(self, now: float, ready: int, starting: int, activator: int) -> SecondStats:
        self.advance(now)
        st = SecondStats(now, self.arrivals, self.completions, self.area, self.cpu_area, ready, starting, activator)
        self.area = self.cpu_area = 0.0
        self.arrivals = self.completions = 0
        return st


class _Pods:
    """The revision's pods: their lifecycle (starting, ready, draining, stopped) and their service slots.

    A pod serves up to ``slots`` requests at once; a request's service time is fixed when it starts, from
    the pod's concurrency at that moment. Scaling down removes starting pods first, then the most
    recently ready; a draining pod stops serving once it has nothing in service or queued, and is gone
    (stops costing) after its drain period, or when it stopped serving if later, but no later than its
    termination grace period after removal (see the module doc).
    """

    __slots__ = ("all", "ready", "starting", "slots", "queue_limit", "slow_tab", "n_tab", "cold_start", "rng",
                 "requests", "events", "meter", "starts", "drain_s", "grace_s")

    def __init__(self, model: PodModel, service: ServiceTimeModel, cold_start: ColdStartModel,
                 rng: np.random.Generator, requests: _Requests, events: _Events, meter: _Meter) -> None:
        self.all: list[_Pod] = []  # every pod ever created, in creation order (for the cost)
        self.ready: list[_Pod] = []
        self.starting: list[_Pod] = []
        self.slots = model.slots
        self.queue_limit = model.queue_limit
        self.slow_tab = [1.0] + [service.slowdown(b) for b in range(1, 1025)]
        self.n_tab = len(self.slow_tab) - 1
        self.cold_start = cold_start
        self.rng = rng
        self.requests = requests
        self.events = events
        self.meter = meter
        self.starts = 0
        self.drain_s = model.drain_period_s
        self.grace_s = requests.timeout_s if model.termination_grace_s is None else model.termination_grace_s

    def warm(self, count: int) -> None:
        """Pods ready before the trace begins (they cost from t=0)."""
        for _ in range(count):
            p = _Pod(len(self.all), -1e9)
            p.state = READY
            p.ready_at = -1e9
            p.created = 0.0
            self.all.append(p)
            self.ready.append(p)

    def scale_to(self, target: int, now: float) -> None:
        """Create or remove pods so that ready + starting equals ``target``."""
        cur = len(self.ready) + len(self.starting)
        if target > cur:
            for _ in range(target - cur):
                self._create(now)
        elif target < cur:
            k = cur - target
            while k and self.starting:
                p = self.starting.pop()
                p.removed = now
                self._stop(p, now)
                k -= 1
            while k and self.ready:
                p = self.ready.pop()  # most recently ready first
                k -= 1
                p.state = DRAINING
                p.removed = now
                self.stop_if_drained(p, now)

    def became_ready(self, p: _Pod, now: float) -> bool:
        """The start-up of ``p`` finished; False if it had been removed meanwhile."""
        if p.state != STARTING:
            return False
        self.starting.remove(p)
        p.state = READY
        p.ready_at = now
        self.ready.append(p)
        return True

    def start(self, p: _Pod, rid: int, now: float) -> None:
        """Begin service of ``rid`` on ``p`` (the caller has checked for a free slot)."""
        req = self.requests
        b = p.busy + 1
        self.meter.busy_changed(b - 1, b)
        p.busy = b
        done = now + req.base[rid] * self.slow_tab[b if b < self.n_tab else self.n_tab]
        if done > req.deadline(rid):
            req.time_out(rid)  # reported at once; the slot stays busy until ``done`` (work is not interrupted)
        else:
            req.status[rid] = IN_SERVICE
        req.where[rid] = p
        self.events.push(done, _EV_COMPLETE, p, rid)

    def enqueue(self, p: _Pod, rid: int) -> None:
        """Wait in ``p``'s queue (queue-proxy's, or the app's own) for a free slot."""
        p.q.append(rid)
        p.qlen += 1
        self.requests.where[rid] = p

    def finish(self, p: _Pod, rid: int, now: float) -> None:
        """A service on ``p`` ended: free the slot and start whatever waits in the pod's queue."""
        b = p.busy
        self.meter.busy_changed(b, b - 1)
        p.busy = b - 1
        self.requests.finish(rid, now)
        status = self.requests.status
        while p.qlen and p.busy < self.slots:
            nxt = p.q.popleft()
            if status[nxt] != QUEUED:
                continue  # timed out while queued; already uncounted from qlen
            p.qlen -= 1
            self.start(p, nxt, now)

    def stop_if_drained(self, p: _Pod, now: float) -> None:
        if p.state == DRAINING and p.busy == 0 and p.qlen == 0:
            self._stop(p, now)

    def pod_seconds(self, end: float) -> float:
        """Cost: every pod from creation (start-up included, not before t=0) until it is gone (which may be
        after ``end`` for a pod still terminating then), or to ``end`` for a pod never removed."""
        total = 0.0
        for p in self.all:
            stop = p.stopped if not math.isnan(p.stopped) else end
            total += max(0.0, stop - max(0.0, p.created))
        return total

    def _create(self, now: float) -> None:
        p = _Pod(len(self.all), now)
        self.all.append(p)
        self.starting.append(p)
        self.starts += 1
        self.events.push(now + self.cold_start.draw(self.rng), _EV_READY, p, -1)

    def _stop(self, p: _Pod, now: float) -> None:
        """``p`` serves nothing more from ``now``; it is gone after its drain period (or now, if later),
        and at the latest when its termination grace period since removal runs out."""
        p.state = STOPPED
        p.stopped = min(p.removed + self.grace_s, max(now, p.removed + self.drain_s))


class _Activator:
    """Knative's activator: holds requests while no pod can take them, hands them out as slots free up.

    With a finite containerConcurrency it knows each pod's capacity and only hands a request to a pod
    with a free slot (so no queue-proxy 503 happens behind it). With unlimited concurrency it picks the
    less loaded of two random ready pods, where the request may queue. A request that times out while
    held is dropped from the count at once and skipped when it reaches the front.
    """

    __slots__ = ("q", "waiting", "cap", "pods", "requests", "rnd")

    def __init__(self, model: PodModel, pods: _Pods, requests: _Requests, rnd: random.Random) -> None:
        self.q: deque[int] = deque()
        self.waiting = 0
        self.cap = model.slots if model.container_concurrency > 0 else math.inf
        self.pods = pods
        self.requests = requests
        self.rnd = rnd

    def hold(self, rid: int) -> None:
        self.q.append(rid)
        self.waiting += 1

    def assign(self, now: float) -> None:
        """Hand held requests to ready pods: fill free slots, or (unlimited) the less loaded of two."""
        if self.cap != math.inf:
            for p in self.pods.ready:
                if not self.waiting:
                    return
                self.fill(p, now)
            return
        status = self.requests.status
        while self.waiting and self.pods.ready:
            rid = self.q.popleft()
            if status[rid] != QUEUED:
                continue
            self.waiting -= 1
            p = self._less_loaded_of_two()
            if p.busy < self.pods.slots:
                self.pods.start(p, rid, now)
            else:
                self.pods.enqueue(p, rid)

    def fill(self, p: _Pod, now: float) -> None:
        """Fill ``p``'s free slots from the buffer (finite containerConcurrency only)."""
        status = self.requests.status
        while self.waiting and p.state == READY and p.busy + p.qlen < self.cap:
            rid = self.q.popleft()
            if status[rid] != QUEUED:
                continue
            self.waiting -= 1
            self.pods.start(p, rid, now)

    def _less_loaded_of_two(self) -> _Pod:
        ready = self.pods.ready
        a = ready[int(self.rnd.random() * len(ready))]
        b = ready[int(self.rnd.random() * len(ready))]
        return a if a.busy + a.qlen <= b.busy + b.qlen else b


class _Router:
    """Where an arriving request goes: refused, held by the activator, or sent to a random ready pod.

    The activator is in the path when the controller says so (Knative's SKS proxy mode), while it still
    holds earlier requests (to keep their order), and when no pod is ready (Knative only; then the
    controller is poked, as Knative ticks at once when scaled to zero). Sent directly, a request takes
    a free slot, else waits in the pod's queue up to its limit, else is refused.
    """

    __slots__ = ("controller", "pods", "activator", "requests", "events", "meter", "rnd")

    def __init__(self, controller: Controller, pods: _Pods, activator: _Activator, requests: _Requests,
                 events: _Events, meter: _Meter, rnd: random.Random) -> None:
        self.controller = controller
        self.pods = pods
        self.activator = activator
        self.requests = requests
        self.events = events
        self.meter = meter
        self.rnd = rnd

    def arrive(self, now: float) -> None:
        req = self.requests
        rid = req.next
        req.next += 1
        self.meter.advance(now)
        self.meter.arrivals += 1
        ready = self.pods.ready
        if not ready:
            if not self.controller.buffers_at_zero:
                req.reject(rid, now)
                return
            req.cold += 1
            self.meter.in_system += 1
            self.activator.hold(rid)
            self._watch_deadline(rid)
            target = self.controller.poke(now, self.activator.waiting, 0)
            if target is not None:
                self.pods.scale_to(target, now)
            return
        if self.controller.activator_in_path or self.activator.waiting:
            self.meter.in_system += 1
            self.activator.hold(rid)
            self.activator.assign(now)
            if req.status[rid] == QUEUED:
                self._watch_deadline(rid)
            return
        p = ready[int(self.rnd.random() * len(ready))]
        if p.busy < self.pods.slots:
            self.meter.in_system += 1
            self.pods.start(p, rid, now)
        elif p.qlen < self.pods.queue_limit:
            self.meter.in_system += 1
            self.pods.enqueue(p, rid)
            self._watch_deadline(rid)
        else:
            req.reject(rid, now)

    def _watch_deadline(self, rid: int) -> None:
        self.events.push(self.requests.deadline(rid), _EV_TIMEOUT, None, rid)


class _Timeline:
    """One row per simulated second, for the plots, the burst report and the tests."""

    __slots__ = ("t", "arrivals", "ready", "pods", "desired", "concurrency", "activator")

    def __init__(self) -> None:
        self.t: list[float] = []
        self.arrivals: list[int] = []
        self.ready: list[int] = []
        self.pods: list[int] = []
        self.desired: list[int] = []
        self.concurrency: list[float] = []
        self.activator: list[int] = []

    def record(self, st: SecondStats, activator_in_path: bool, desired: int) -> None:
        self.t.append(st.t)
        self.arrivals.append(st.arrivals)
        self.ready.append(st.ready)
        self.pods.append(st.ready + st.starting)
        self.concurrency.append(st.concurrency)
        self.activator.append(1 if activator_in_path else 0)
        self.desired.append(desired)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.array(getattr(self, name)) for name in
                ("t", "arrivals", "ready", "pods", "desired", "concurrency", "activator")}


# --- the loop ---------------------------------------------------------------------------------------------


def _service_ended(p: _Pod | None, rid: int, now: float, pods: _Pods, activator: _Activator, meter: _Meter) -> None:
    """A request leaves its pod: the pod takes its next queued request, then the activator's, or stops if
    it is draining and now idle."""
    assert p is not None
    meter.in_system -= 1
    meter.completions += 1
    pods.finish(p, rid, now)
    if p.state == READY:
        if activator.waiting and activator.cap != math.inf:
            activator.fill(p, now)
    else:
        pods.stop_if_drained(p, now)


def _deadline_passed(rid: int, now: float, requests: _Requests, pods: _Pods, activator: _Activator,
                     meter: _Meter) -> None:
    """A request still waiting (in a pod's queue or the activator) at its deadline times out."""
    if requests.status[rid] != QUEUED:
        return  # already started, finished or failed
    requests.time_out(rid)
    meter.in_system -= 1
    w = requests.where[rid]
    if w is None:
        activator.waiting -= 1
    else:
        w.qlen -= 1
        pods.stop_if_drained(w, now)


def simulate(
    trace: Trace,
    controller: Controller,
    service: ServiceTimeModel,
    cold_start: ColdStartModel,
    pod: PodModel,
    initial_pods: int = 1,
    timeout_s: float = 300.0,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> SimResult:
    """Run one autoscaler over one trace. Deterministic for a given seed.

    Time moves to whichever comes first: the end of a second (the autoscaler looks and may rescale), a
    scheduled event (a service ends, a pod becomes ready, a waiting request's deadline), or the next
    arrival. At equal times the second's end goes first, then events, then arrivals. The run ends at the
    first second boundary after the trace with no request left in the system.
    """
    rng = np.random.default_rng(seed)  # service times, text lengths, cold starts
    rnd = random.Random(seed)  # routing choices
    requests = _Requests(trace, service, rng, timeout_s)
    events = _Events()
    meter = _Meter(cpu_table(service, pod.cores, 1025))
    pods = _Pods(pod, service, cold_start, rng, requests, events, meter)
    pods.warm(initial_pods)
    activator = _Activator(pod, pods, requests, rnd)
    router = _Router(controller, pods, activator, requests, events, meter, rnd)
    timeline = _Timeline()

    next_arrival, next_event = requests.next_arrival, events.next_time
    next_second = 1.0
    while True:
        t_arrival = next_arrival()
        t_event = next_event()
        if next_second <= t_arrival and next_second <= t_event:
            now = next_second
            st = meter.close_second(now, len(pods.ready), len(pods.starting), activator.waiting)
            in_path = controller.activator_in_path or not pods.ready  # as it was during the second
            target = controller.second(st)
            timeline.record(st, in_path, controller.desired)
            if target is not None:
                pods.scale_to(target, now)
            if progress is not None and int(now) % 60 == 0:
                progress(now)
            next_second += 1.0
            if now >= trace.duration_s and requests.next >= requests.n and meter.in_system == 0:
                break
        elif t_event <= t_arrival:
            now, kind, p, rid = events.pop()
            meter.advance(now)
            if kind == _EV_COMPLETE:
                _service_ended(p, rid, now, pods, activator, meter)
            elif kind == _EV_READY:
                assert p is not None
                if pods.became_ready(p, now) and activator.waiting:
                    activator.assign(now)
            else:
                _deadline_passed(rid, now, requests, pods, activator, meter)
        else:
            router.arrive(t_arrival)

    end = max(trace.duration_s, meter.last_t)
    return SimResult(
        name=controller.name,
        n=requests.n,
        completed=requests.completed,
        rejected=requests.rejected,
        timed_out=requests.timed_out,
        latencies=np.array(requests.latencies),
        latency_at=np.array(requests.latency_at),
        failed_at=np.array(requests.failed_at),
        pod_seconds=pods.pod_seconds(end),
        pod_starts=pods.starts,
        cold_requests=requests.cold,
        end_s=end,
        timeline=timeline.arrays(),
    )


class StaticController:
    """A fixed replica count: the baseline for cost comparisons."""

    activator_in_path = False
    buffers_at_zero = False

    def __init__(self, replicas: int) -> None:
        self.name = f"static {replicas}"
        self.desired = replicas

    def second(self, s: SecondStats) -> int | None:
        return self.desired if s.ready + s.starting != self.desired else None

    def poke(self, t: float, activator_concurrency: int, ready: int) -> int | None:
        return None
