"""ctypes binding to libespeak-ng from the ``espeakng-loader`` wheel (1.52, with its own data).

Debian's 1.51 reads Mandarin tone digits aloud, so we never use a system espeak. libespeak-ng keeps one
global synthesiser per process and is not re-entrant: every call goes through one lock.

ctypes errors become engine ServiceErrors here. Must not import the service layer or interfaces.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0

# espeak_PARAMETER
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
RATE_MIN, RATE_MAX = 80, 450  # espeak-ng clamps below 80; above 450 it switches to its sonic speed-up

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class Prosody:
    """espeak-ng parameters: rate in words/minute, pitch/range 0-100, volume 0-200 (100 = normal)."""

    rate: int = 175
    pitch: int = 50
    range: int = 50
    volume: int = 100


class EspeakLibrary:
    """The process-wide espeak-ng instance. Construct once; share between engines and threads."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: ctypes does not
        data_path = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed with {rate} (data path {data_path!r})")
        self.sample_rate = int(rate)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: ctypes.POINTER(ctypes.c_short), count: int, _events: int) -> int:  # type: ignore[valid-type]
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synthesize(self, text: str, voice: str, prosody: Prosody) -> np.ndarray:
        """Speak ``text`` with an espeak voice name such as ``"cmn+f2"``; returns int16 samples."""
        data = text.encode("utf-8")
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise EspeakError(f"espeak-ng has no voice {voice!r}")
            for param, value in (
                (RATE, prosody.rate), (PITCH, prosody.pitch), (RANGE, prosody.range), (VOLUME, prosody.volume)
            ):
                self._lib.espeak_SetParameter(param, int(value), 0)
            self._chunks = []
            buf = ctypes.create_string_buffer(data)
            err = self._lib.espeak_Synth(buf, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err != _EE_OK:
                raise EspeakError(f"espeak_Synth failed with {err}")
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_shared: EspeakLibrary | None = None
_shared_lock = threading.Lock()


def shared_library() -> EspeakLibrary:
    """libespeak-ng is one global per process whatever we do, so the binding is one too."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EspeakLibrary()
        return _shared
