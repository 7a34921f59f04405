"""Issue 14, Found 8: the queue-depth gauge counts waiting jobs only, not jobs whose audio is still
being sent. Driven on the service itself with a scripted engine, so the moments are exact."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from function.engines.base import AudioChunk, Style, SynthesisRequest, Voice
from function.metrics import Metrics
from function.service.engine_host import EngineHost
from function.service.synthesis import SynthesisLimits, SynthesisService


class ScriptedEngine:
    """Two sentences per request; the first request's second sentence waits for ``release``."""

    name = "scripted"
    sample_rate = 16_000

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def voices(self) -> Sequence[Voice]:
        return [Voice("v", "V", "unknown", "en")]

    def resolve_voice(self, voice: str) -> Voice:
        return self.voices()[0]

    def resolve_style(self, prompt: str) -> Style:
        return Style(prompt, "neutral")

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        self.calls += 1
        yield AudioChunk(np.zeros(160, np.float32), self.sample_rate, "a")
        if self.calls == 1:
            self.release.wait(10)
        yield AudioChunk(np.zeros(160, np.float32), self.sample_rate, "b")

    def warm_up(self) -> None:
        pass

    def close(self) -> None:
        pass


def _gauge(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None
    return value


def test_queue_depth_counts_waiting_jobs_only() -> None:
    engine = ScriptedEngine()
    host = EngineHost(lambda: (engine, 0.0))
    host.load()
    metrics = Metrics()
    service = SynthesisService(host, metrics, SynthesisLimits(workers=1, queue_size=3, queue_timeout_seconds=10,
                                                              retry_after_seconds=1, max_input_chars=100))

    async def scenario() -> list[tuple[float, float]]:
        seen = []
        first = await service.open(SynthesisRequest("one", "v"))  # running: the worker waits inside it
        second = asyncio.create_task(service.open(SynthesisRequest("two", "v")))  # waits for the worker
        await asyncio.sleep(0.2)
        seen.append((_gauge(metrics, "emotivoice_in_flight_requests"), _gauge(metrics, "emotivoice_queue_depth")))
        engine.release.set()
        job2 = await second  # the worker finished the first job's compute and started the second
        await asyncio.sleep(0.2)
        # Both jobs' computation is over, their audio not yet consumed: nothing waits for a worker.
        seen.append((_gauge(metrics, "emotivoice_in_flight_requests"), _gauge(metrics, "emotivoice_queue_depth")))
        await first.whole()
        await job2.whole()
        seen.append((_gauge(metrics, "emotivoice_in_flight_requests"), _gauge(metrics, "emotivoice_queue_depth")))
        return seen

    try:
        assert asyncio.run(scenario()) == [(2.0, 1.0), (2.0, 0.0), (0.0, 0.0)]
    finally:
        service.shutdown()
