"""Engine selection by configuration: the only place that knows concrete engines exist.

The only module that knows the concrete engines; imports engines and ``function.settings`` only.
"""

from __future__ import annotations

import logging
import time

from function.engines.base import Engine
from function.settings import Settings

log = logging.getLogger(__name__)


def choose_runtime(settings: Settings) -> str:
    """Which EmotiVoice runtime serves: ``eager`` (no snapshot: EMOTIVOICE_HOME), ``onnx``, ``openvino`` or
    ``torchscript``.

    Rules (``EMOTIVOICE_RUNTIME``): with a snapshot, ``onnx``/``openvino``/``torchscript`` are taken as
    asked (a snapshot or install that cannot honour them fails the load with a message, never a silent
    switch); ``auto`` takes ONNX Runtime when the snapshot lists ONNX graphs and onnxruntime is installed,
    else TorchScript; never OpenVINO, which must be asked for (faster per request in fp32, but a cold pod
    is ready later and its first audio comes ~1.5 s later; see the setting's description). Without a
    snapshot the eager path runs, and an explicit runtime is a configuration error (all three run a
    snapshot)."""
    from function.engines.base import EngineLoadError

    runtime = getattr(settings, "runtime", "auto")
    if settings.snapshot is None:
        if runtime != "auto":
            raise EngineLoadError(f"EMOTIVOICE_RUNTIME={runtime} runs a snapshot: set EMOTIVOICE_SNAPSHOT "
                                  "(built by `emotivoice-fn snapshot`) or use EMOTIVOICE_RUNTIME=auto")
        return "eager"
    if runtime != "auto":
        return runtime
    from function.engines.emotivoice.onnx_runtime import onnx_available

    return "onnx" if onnx_available(settings.snapshot) else "torchscript"


def load_engine(settings: Settings) -> tuple[Engine, float]:
    """Build the configured engine and warm it up. Returns the engine and the seconds it took.

    Imports are deferred so the espeak default never pays for importing torch or onnxruntime, and the
    ONNX Runtime and OpenVINO runtimes never import torch.
    """
    started = time.perf_counter()
    kind = settings.chosen_engine()
    engine: Engine
    if kind == "espeak":
        from function.engines.espeak.engine import EspeakEngine

        engine = EspeakEngine()
    elif (runtime := choose_runtime(settings)) == "onnx":
        # A snapshot (EMOTIVOICE_SNAPSHOT) wins over EMOTIVOICE_HOME; its ONNX graphs need no torch at all.
        from function.engines.emotivoice.onnx_runtime import load_onnx_snapshot

        engine = load_onnx_snapshot(settings)
    elif runtime == "openvino":
        # The same ONNX graphs compiled by OpenVINO (no torch either); the only snapshot runtime with bf16.
        from function.engines.emotivoice.openvino_runtime import load_openvino_snapshot

        engine = load_openvino_snapshot(settings)
    elif runtime == "torchscript":
        from function.engines.emotivoice.snapshot_runtime import load_snapshot

        engine = load_snapshot(settings)
    else:
        from function.engines.emotivoice import load as load_emotivoice

        engine = load_emotivoice(settings)
    engine.warm_up()
    seconds = time.perf_counter() - started
    log.info("engine loaded", extra={"engine": engine.name, "load_seconds": round(seconds, 3)})
    return engine, seconds
