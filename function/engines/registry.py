"""Engine selection by configuration: the only place that knows concrete engines exist.

The only module that knows the concrete engines; imports engines and ``function.settings`` only.
"""

from __future__ import annotations

import logging
import time

from function.engines.base import Engine
from function.settings import Settings

log = logging.getLogger(__name__)


def load_engine(settings: Settings) -> tuple[Engine, float]:
    """Build the configured engine and warm it up. Returns the engine and the seconds it took.

    Imports are deferred so the espeak default never pays for importing torch.
    """
    started = time.perf_counter()
    kind = settings.chosen_engine()
    engine: Engine
    if kind == "espeak":
        from function.engines.espeak.engine import EspeakEngine

        engine = EspeakEngine()
    elif settings.snapshot is not None:
        # A snapshot (EMOTIVOICE_SNAPSHOT) wins over EMOTIVOICE_HOME: compiled modules, fast cold start.
        from function.engines.emotivoice.snapshot_runtime import load_snapshot

        engine = load_snapshot(settings)
    else:
        from function.engines.emotivoice import load as load_emotivoice

        engine = load_emotivoice(settings)
    engine.warm_up()
    seconds = time.perf_counter() - started
    log.info("engine loaded", extra={"engine": engine.name, "load_seconds": round(seconds, 3)})
    return engine, seconds
