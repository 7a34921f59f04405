"""The function's own per-pod concurrency bound that a Knative ``containerConcurrency`` must match.

Why: the function admits ``EMOTIVOICE_WORKERS + EMOTIVOICE_QUEUE_SIZE`` requests at once and answers 503
beyond (README, Limits); Knative's queue-proxy hands a pod at most ``containerConcurrency``. A plan that
changes one must change the other, and the simulated pod (``slowdown`` measured with a given worker count)
only describes pods running that many workers. A leaf: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionBound:
    """``EMOTIVOICE_WORKERS`` and ``EMOTIVOICE_QUEUE_SIZE`` for one pod."""

    workers: int
    queue_size: int

    @property
    def total(self) -> int:
        return self.workers + self.queue_size

    @staticmethod
    def for_pod(container_concurrency: int, workers: int) -> FunctionBound:
        """``workers`` synthesis threads (at most containerConcurrency), the rest of the bound as queue."""
        if container_concurrency < 1:
            raise ValueError("containerConcurrency 0 (unlimited) has no function bound to match: "
                             "EMOTIVOICE_WORKERS + EMOTIVOICE_QUEUE_SIZE must equal containerConcurrency")
        w = max(1, min(workers, container_concurrency))
        return FunctionBound(workers=w, queue_size=container_concurrency - w)
