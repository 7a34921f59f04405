"""Which ONNX Runtime execution providers run a snapshot's graphs (``EMOTIVOICE_ONNX_PROVIDER``), and the
check that a session really got the one asked for.

- ``cpu`` (default): ``CPUExecutionProvider`` only, what the ``emotivoice`` image runs.
- ``cuda``: ``CUDAExecutionProvider`` first, the CPU after it. ONNX Runtime places each operator on the
  first provider with a kernel for it, so operators CUDA lacks run on the CPU (with the copies between them).
  Refused with :class:`EngineLoadError` when onnxruntime has no CUDA provider at all: the CPU package
  ``onnxruntime`` is installed instead of ``onnxruntime-gpu`` (both install the ``onnxruntime`` module; the
  one installed last wins).
- ``auto``: ``cuda`` when onnxruntime reports ``CUDAExecutionProvider`` available, else ``cpu``.

``onnxruntime-gpu`` reports ``CUDAExecutionProvider`` available whenever it is installed, GPU or not: that
CUDA really came up shows only once a session exists. Without a visible GPU, or without the CUDA and cuDNN
libraries the wheel was built against, ONNX Runtime logs an error and quietly runs the session on the CPU.
:func:`check_session` turns that into an :class:`EngineLoadError` for ``cuda`` (the pod stays live, not
ready, with the reason in readiness) and a warning for ``auto``.

Pure functions of the setting and of what onnxruntime reports (the caller passes
``onnxruntime.get_available_providers()`` and ``session.get_providers()``), so the rules are tested without a
GPU. Owns provider choice only; imports ``function.engines.base`` and nothing else of ours, never onnxruntime.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from function.engines.base import EngineLoadError

log = logging.getLogger(__name__)

ProviderSetting = Literal["cpu", "cuda", "auto"]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

# CUDA provider options. device_id 0: the device plugin shows a pod only the GPU(s) allocated to it, numbered
# from 0. cudnn_conv_algo_search: ONNX Runtime's default, EXHAUSTIVE, benchmarks every cuDNN convolution
# algorithm for each new input shape, and every sentence length is a new shape for these graphs (the vocoder
# is convolutions over the mel frames): seconds on the first request of each length. HEURISTIC asks cuDNN
# for its best guess instead.
CUDA_OPTIONS: dict[str, str] = {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC"}

Provider = str | tuple[str, dict[str, str]]


def choose_providers(setting: str, available: Sequence[str]) -> list[Provider]:
    """The ``providers`` argument for ``onnxruntime.InferenceSession``: ``[CPU]``, or the CUDA provider (with
    :data:`CUDA_OPTIONS`) followed by the CPU. ``available``: ``onnxruntime.get_available_providers()``."""
    if setting == "cpu":
        return [CPU]
    if setting not in ("cuda", "auto"):
        raise EngineLoadError(f"EMOTIVOICE_ONNX_PROVIDER={setting!r} is not one of cpu, cuda, auto")
    if CUDA in available:
        return [(CUDA, dict(CUDA_OPTIONS)), CPU]
    if setting == "auto":
        return [CPU]
    raise EngineLoadError(
        f"EMOTIVOICE_ONNX_PROVIDER=cuda but this onnxruntime offers only {', '.join(available) or 'no providers'}: "
        "it is the CPU package. Install onnxruntime-gpu instead of onnxruntime (uninstall onnxruntime first: both "
        "provide the onnxruntime module), as the emotivoice-gpu image does, or set EMOTIVOICE_ONNX_PROVIDER=cpu "
        "or auto")


def provider_names(providers: Sequence[Provider]) -> list[str]:
    """The names of a :func:`choose_providers` list (options dropped), e.g. for logs."""
    return [p if isinstance(p, str) else p[0] for p in providers]


def check_session(setting: str, requested: Sequence[Provider], active: Sequence[str],
                  graph: str) -> None:
    """After creating a session with ``requested``: did CUDA come up? ``active``: ``session.get_providers()``.

    ``cuda``: a session that fell back to the CPU is an :class:`EngineLoadError`; ``auto``: a warning, the
    CPU serves. Nothing to check when CUDA was not requested."""
    if CUDA not in provider_names(requested) or CUDA in active:
        return
    if setting == "cuda":
        raise EngineLoadError(
            f"EMOTIVOICE_ONNX_PROVIDER=cuda but ONNX Runtime could not start CUDA for {graph} (the session fell "
            f"back to {', '.join(active) or 'nothing'}): no NVIDIA GPU is visible to this process (a pod needs an "
            "nvidia.com/gpu limit on a GPU node with the NVIDIA container runtime), or the CUDA and cuDNN libraries "
            "onnxruntime-gpu was built against are missing; ONNX Runtime logged the reason just before this")
    log.warning("CUDA was available but did not start: the graph runs on the CPU",
                extra={"graph": graph, "providers": list(active)})
