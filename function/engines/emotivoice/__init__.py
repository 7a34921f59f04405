"""Clean-room EmotiVoice engine: loads upstream's released checkpoints (the "EmotiVoice home") and
synthesises with our own frontend, BERT, acoustic model and HiFi-GAN vocoder. See ``engine.py``.

Where things are:

* the engine: ``engine.py`` (the pipeline), built from ``parts.EngineParts`` (three networks and the
  home's tables) plus optional pre-computed style vectors (``prompt_cache.py``);
* text: ``frontend.py`` over ``chinese.py``, ``english.py``, ``numbers.py``; ``tokenizer.py`` for BERT;
  voices: ``voices.py``;
* networks: ``acoustic.py``, ``bert.py``, ``vocoder.py``, one forward code each, run eagerly and compiled;
* eager runtime: ``loader.py`` (a home's checkpoints -> modules), entry point :func:`load` below;
* snapshot runtimes: ``snapshot_format.py`` (files, manifest, checks), ``snapshot_frontend.py`` (stored
  tables -> frontend), ``snapshot_runtime.py`` (TorchScript archives -> engine), ``onnx_runtime.py`` (ONNX
  graphs -> engine, never imports torch), ``snapshot_engine.py``; ``torch_networks.py`` puts torch modules
  behind the engine's numpy interface (``parts.Networks``).

The top-level ``snapshot/`` package is the build step that writes snapshots: it imports this package;
nothing here imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from function.engines.emotivoice.engine import EmotiVoiceEngine
    from function.settings import Settings


def load(settings: Settings) -> EmotiVoiceEngine:
    """Build the engine from ``settings.home`` (``EMOTIVOICE_HOME``); raises EngineLoadError on a bad home.

    ``settings.precision`` (``EMOTIVOICE_PRECISION``): "fp32" reproduces upstream, "bf16" speeds up the vocoder.
    """
    import torch

    from function.engines.base import EngineLoadError
    from function.engines.emotivoice.engine import EmotiVoiceEngine
    from function.engines.emotivoice.loader import load_home
    from function.engines.emotivoice.runtime import keep_freed_memory

    if settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)
    if settings.home is None:
        if settings.snapshot is not None:
            raise EngineLoadError("snapshot loading not implemented yet")
        raise EngineLoadError("EMOTIVOICE_HOME is not set: point it at an EmotiVoice home directory")
    keep_freed_memory()
    return EmotiVoiceEngine(load_home(settings.home), precision=settings.precision)
