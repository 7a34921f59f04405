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
- Cost is pod-seconds: from creation to stop (start-up included) for every pod.
- Metrics every 1 s: average in-flight concurrency (queue-proxy + activator), arrivals, completions and
  CPU-seconds (per-pod CPU = min(cores, b x k / slowdown(b)) where one request alone uses ``k`` cores,
  derived from the measured contention).
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

from function.planner.measurements import ColdStartModel, ServiceTimeModel
from function.planner.workload import Trace

QUEUED, IN_SERVICE, DONE, REJECTED, TIMED_OUT = 0, 1, 2, 3, 4
STARTING, READY, DRAINING, STOPPED = 0, 1, 2, 3
_EV_COMPLETE, _EV_READY, _EV_TIMEOUT = 0, 1, 2


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

    @property
    def slots(self) -> int:
        return self.container_concurrency or self.app_workers

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
    __slots__ = ("id", "state", "busy", "q", "qlen", "created", "ready_at", "stopped")

    def __init__(self, pid: int, created: float) -> None:
        self.id = pid
        self.state = STARTING
        self.busy = 0
        self.q: deque[int] = deque()
        self.qlen = 0
        self.created = created
        self.ready_at = math.nan
        self.stopped = math.nan


def cpu_table(model: ServiceTimeModel, cores: float, n: int = 257) -> list[float]:
    """CPU cores a pod burns with b requests in service, b = 0..n-1 (see module doc)."""
    best = max(b / model.slowdown(b) for b in range(1, 65))
    k = cores / max(1.0, best)  # cores one request uses alone
    return [0.0] + [min(cores, b * k / model.slowdown(b)) for b in range(1, n)]


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
    """Run one autoscaler over one trace. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    rnd = random.Random(seed)
    n = trace.n
    arr = trace.times.tolist()
    chars = trace.chars if trace.chars is not None else service.draw_chars(rng, n)
    base = service.draw_base(rng, np.asarray(chars)).tolist()
    slow_tab = [1.0] + [service.slowdown(b) for b in range(1, 1025)]
    cpu_tab = cpu_table(service, pod.cores, 1025)
    n_tab = len(slow_tab) - 1

    status = [QUEUED] * n
    where: list[_Pod | None] = [None] * n
    lat_list: list[float] = []
    lat_at: list[float] = []
    failed_at: list[float] = []
    slots = pod.slots
    qlimit = pod.queue_limit
    act_cap = slots if pod.container_concurrency > 0 else math.inf

    pods: list[_Pod] = []
    ready: list[_Pod] = []
    starting: list[_Pod] = []
    heap: list[tuple[float, int, int, _Pod | None, int]] = []
    seq = 0
    act_q: deque[int] = deque()
    act_len = 0

    # metric accumulators over the current second
    n_sys = 0
    area = 0.0
    cpu_rate = 0.0
    cpu_area = 0.0
    last_t = 0.0
    sec_arrivals = 0
    sec_completions = 0
    rejected = timed_out = completed = cold_requests = pod_starts = 0

    tl_t: list[float] = []
    tl_arr: list[int] = []
    tl_ready: list[int] = []
    tl_pods: list[int] = []
    tl_desired: list[int] = []
    tl_conc: list[float] = []
    tl_act: list[int] = []

    def new_pod(now: float, count_start: bool) -> None:
        nonlocal seq, pod_starts
        p = _Pod(len(pods), now)
        pods.append(p)
        starting.append(p)
        if count_start:
            pod_starts += 1
        seq += 1
        heapq.heappush(heap, (now + cold_start.draw(rng), seq, _EV_READY, p, -1))

    def start(p: _Pod, rid: int, now: float) -> None:
        """Begin service of ``rid`` on ``p`` (caller has checked for a free slot)."""
        nonlocal seq, cpu_rate, timed_out
        b = p.busy + 1
        cpu_rate += cpu_tab[min(b, n_tab)] - cpu_tab[min(b - 1, n_tab)]
        p.busy = b
        s = base[rid] * slow_tab[b if b < n_tab else n_tab]
        done = now + s
        deadline = arr[rid] + timeout_s
        if done > deadline:
            status[rid] = TIMED_OUT
            timed_out += 1
            failed_at.append(arr[rid])
        else:
            status[rid] = IN_SERVICE
        where[rid] = p
        seq += 1
        heapq.heappush(heap, (done, seq, _EV_COMPLETE, p, rid))

    def queue_timeout(rid: int, now: float) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (arr[rid] + timeout_s, seq, _EV_TIMEOUT, None, rid))

    def dispatch_from_activator(p: _Pod, now: float) -> None:
        """Fill ``p``'s free slots from the activator's buffer (finite containerConcurrency only)."""
        nonlocal act_len
        while act_len and p.state == READY and p.busy + p.qlen < act_cap:
            rid = act_q.popleft()
            if status[rid] != QUEUED:
                continue
            act_len -= 1
            start(p, rid, now)

    def least_loaded_of_two() -> _Pod:
        a = ready[int(rnd.random() * len(ready))]
        b = ready[int(rnd.random() * len(ready))]
        return a if a.busy + a.qlen <= b.busy + b.qlen else b

    def activator_assign(now: float) -> None:
        """Hand waiting requests to pods: first pod with a free slot, or (unlimited) the less loaded of two."""
        nonlocal act_len
        if act_cap != math.inf:
            for p in ready:
                if not act_len:
                    return
                dispatch_from_activator(p, now)
            return
        while act_len and ready:
            rid = act_q.popleft()
            if status[rid] != QUEUED:
                continue
            act_len -= 1
            p = least_loaded_of_two()
            if p.busy < slots:
                start(p, rid, now)
            else:
                p.q.append(rid)
                p.qlen += 1
                where[rid] = p

    def stop_pod(p: _Pod, now: float) -> None:
        p.state = STOPPED
        p.stopped = now

    def apply_scale(target: int, now: float) -> None:
        cur = len(ready) + len(starting)
        if target > cur:
            for _ in range(target - cur):
                new_pod(now, True)
        elif target < cur:
            k = cur - target
            while k and starting:
                p = starting.pop()
                stop_pod(p, now)
                k -= 1
            while k and ready:
                p = ready.pop()  # most recently ready first
                k -= 1
                p.state = DRAINING
                if p.busy == 0 and p.qlen == 0:
                    stop_pod(p, now)

    for _ in range(initial_pods):
        p = _Pod(len(pods), -1e9)
        p.state = READY
        p.ready_at = -1e9
        p.created = 0.0
        pods.append(p)
        ready.append(p)

    i = 0
    next_sec = 1.0
    horizon = trace.duration_s
    inf = math.inf
    while True:
        t_arr = arr[i] if i < n else inf
        t_ev = heap[0][0] if heap else inf
        if next_sec <= t_arr and next_sec <= t_ev:
            now = next_sec
            area += n_sys * (now - last_t)
            cpu_area += cpu_rate * (now - last_t)
            last_t = now
            st = SecondStats(now, sec_arrivals, sec_completions, area, cpu_area, len(ready), len(starting), act_len)
            area = cpu_area = 0.0
            tl_t.append(now)
            tl_arr.append(sec_arrivals)
            tl_ready.append(len(ready))
            tl_pods.append(len(ready) + len(starting))
            tl_conc.append(st.concurrency)
            tl_act.append(1 if (controller.activator_in_path or not ready) else 0)
            sec_arrivals = sec_completions = 0
            target = controller.second(st)
            tl_desired.append(controller.desired)
            if target is not None:
                apply_scale(target, now)
            if progress is not None and int(now) % 60 == 0:
                progress(now)
            next_sec += 1.0
            if now >= horizon and i >= n and n_sys == 0:
                break
            continue
        if t_ev <= t_arr:
            now, _, kind, p, rid = heapq.heappop(heap)
            area += n_sys * (now - last_t)
            cpu_area += cpu_rate * (now - last_t)
            last_t = now
            if kind == _EV_COMPLETE:
                assert p is not None
                b = p.busy
                cpu_rate += cpu_tab[min(b - 1, n_tab)] - cpu_tab[min(b, n_tab)]
                p.busy = b - 1
                n_sys -= 1
                sec_completions += 1
                if status[rid] == IN_SERVICE:
                    status[rid] = DONE
                    completed += 1
                    lat_list.append(now - arr[rid])
                    lat_at.append(arr[rid])
                while p.qlen and p.busy < slots:
                    nxt = p.q.popleft()
                    if status[nxt] != QUEUED:
                        continue
                    p.qlen -= 1
                    start(p, nxt, now)
                if p.state == READY:
                    if act_len and act_cap != math.inf:
                        dispatch_from_activator(p, now)
                elif p.state == DRAINING and p.busy == 0 and p.qlen == 0:
                    stop_pod(p, now)
            elif kind == _EV_READY:
                assert p is not None
                if p.state != STARTING:
                    continue  # removed while starting
                starting.remove(p)
                p.state = READY
                p.ready_at = now
                ready.append(p)
                if act_len:
                    activator_assign(now)
            else:  # timeout of a waiting request
                if status[rid] == QUEUED:
                    status[rid] = TIMED_OUT
                    timed_out += 1
                    failed_at.append(arr[rid])
                    n_sys -= 1
                    w = where[rid]
                    if w is None:
                        act_len -= 1
                    else:
                        w.qlen -= 1
                        if w.state == DRAINING and w.busy == 0 and w.qlen == 0:
                            stop_pod(w, now)
            continue
        # arrival
        now = t_arr
        rid = i
        i += 1
        area += n_sys * (now - last_t)
        cpu_area += cpu_rate * (now - last_t)
        last_t = now
        sec_arrivals += 1
        if not ready:
            if not controller.buffers_at_zero:
                status[rid] = REJECTED
                rejected += 1
                failed_at.append(now)
                continue
            cold_requests += 1
            n_sys += 1
            act_q.append(rid)
            act_len += 1
            queue_timeout(rid, now)
            target = controller.poke(now, act_len, 0)
            if target is not None:
                apply_scale(target, now)
            continue
        if controller.activator_in_path or act_len:
            n_sys += 1
            act_q.append(rid)
            act_len += 1
            activator_assign(now)
            if status[rid] == QUEUED:
                queue_timeout(rid, now)
            continue
        p = ready[int(rnd.random() * len(ready))]
        if p.busy < slots:
            n_sys += 1
            start(p, rid, now)
        elif p.qlen < qlimit:
            n_sys += 1
            p.q.append(rid)
            p.qlen += 1
            where[rid] = p
            queue_timeout(rid, now)
        else:
            status[rid] = REJECTED
            rejected += 1
            failed_at.append(now)

    end = max(horizon, last_t)
    pod_seconds = 0.0
    for p in pods:
        stop = p.stopped if not math.isnan(p.stopped) else end
        pod_seconds += max(0.0, stop - max(0.0, p.created))
    return SimResult(
        name=controller.name,
        n=n,
        completed=completed,
        rejected=rejected,
        timed_out=timed_out,
        latencies=np.array(lat_list),
        latency_at=np.array(lat_at),
        failed_at=np.array(failed_at),
        pod_seconds=pod_seconds,
        pod_starts=pod_starts,
        cold_requests=cold_requests,
        end_s=end,
        timeline={
            "t": np.array(tl_t),
            "arrivals": np.array(tl_arr),
            "ready": np.array(tl_ready),
            "pods": np.array(tl_pods),
            "desired": np.array(tl_desired),
            "concurrency": np.array(tl_conc),
            "activator": np.array(tl_act),
        },
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
