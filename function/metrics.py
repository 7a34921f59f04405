"""Prometheus metrics of one function process.

One ``Metrics`` object per app, on its own ``CollectorRegistry`` (no module-level globals), so tests can
run several apps in one process. Names follow Prometheus conventions: base units (seconds), ``_total``
for counters, ``emotivoice_`` prefix. Dashboards and alerts in ``knative/`` query exactly these names,
and a test checks that against a live ``/metrics``.

A leaf: imports nothing of ours; every layer records into the one ``Metrics`` it is given.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# The *_created series double the exposition for no use on our dashboards.
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "emotivoice_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "emotivoice_http_request_duration_seconds",
            "Wall time from request received to last byte sent, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_first_audio = Histogram(
            "emotivoice_time_to_first_audio_seconds",
            "Time from admission to the first audio chunk leaving the engine (includes queue wait).",
            ["engine"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "emotivoice_queue_wait_seconds",
            "Time a synthesis job waited for a free worker.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.audio_seconds = Counter(
            "emotivoice_audio_seconds_total",
            "Seconds of audio synthesised.",
            ["engine"],
            registry=r,
        )
        self.synthesis_seconds = Counter(
            "emotivoice_synthesis_seconds_total",
            "Worker seconds spent synthesising (compute, excluding queue wait).",
            ["engine"],
            registry=r,
        )
        self.real_time_factor = Histogram(
            "emotivoice_real_time_factor",
            "Synthesis compute seconds per second of audio, per job (lower is faster).",
            ["engine"],
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "emotivoice_synthesis_jobs_total",
            "Synthesis jobs by outcome: ok, error, cancelled, rejected (overload), timeout (queue wait), "
            "deadline (EMOTIVOICE_REQUEST_TIMEOUT_SECONDS), stalled (client stopped reading).",
            ["outcome"],
            registry=r,
        )
        self.in_flight = Gauge(
            "emotivoice_in_flight_requests",
            "Synthesis jobs admitted and not finished (running + waiting).",
            registry=r,
        )
        self.queue_depth = Gauge(
            "emotivoice_queue_depth",
            "Synthesis jobs admitted and waiting for a worker.",
            registry=r,
        )
        self.stalled_streams = Counter(
            "emotivoice_stalled_streams_total",
            "Streamed responses cut off because the client read nothing for EMOTIVOICE_STALL_TIMEOUT_SECONDS.",
            registry=r,
        )
        self.deadline_exceeded = Counter(
            "emotivoice_deadline_exceeded_total",
            "Synthesis jobs stopped at EMOTIVOICE_REQUEST_TIMEOUT_SECONDS.",
            registry=r,
        )
        self.draining = Gauge(
            "emotivoice_draining",
            "1 from SIGTERM until exit: the pod finishes admitted work and takes no new work.",
            registry=r,
        )
        self.storage_breaker_open = Gauge(
            "emotivoice_storage_breaker_open",
            "1 while the storage circuit breaker refuses calls (storage known to be down).",
            registry=r,
        )
        self.capacity = Gauge(
            "emotivoice_capacity",
            "Most synthesis jobs this process admits at once (workers + queue size).",
            registry=r,
        )
        self.engine_load_seconds = Gauge(
            "emotivoice_engine_load_seconds",
            "Seconds the engine took to load and warm up at start-up.",
            ["engine"],
            registry=r,
        )
        self.ready = Gauge(
            "emotivoice_ready",
            "1 once the engine is loaded and warmed up, else 0.",
            registry=r,
        )
        self.events = Counter(
            "emotivoice_events_total",
            "CloudEvents received, by event type and outcome: completed, failed (a failed reply event), "
            "rejected (4xx: the broker dead-letters it), retry (5xx/429: the broker redelivers).",
            ["type", "outcome"],
            registry=r,
        )
        self.batch_items = Counter(
            "emotivoice_batch_items_total",
            "Batch greeting items processed, by outcome: ok, failed, skipped (already done on resume).",
            ["outcome"],
            registry=r,
        )
        self.engine_info = Gauge(
            "emotivoice_engine_info",
            "Always 1; labels say which engine, version, runtime (eager, torchscript, onnx, openvino; espeak: native) "
            "and precision (fp32, bf16; espeak: native) serve.",
            ["engine", "version", "runtime", "precision"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
