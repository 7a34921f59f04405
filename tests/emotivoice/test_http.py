"""End to end through the foundation's HTTP API with the EmotiVoice engine selected by EMOTIVOICE_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audio_check import decode
from tests.conftest import run_server

FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]


@pytest.fixture(scope="module")
def server(tiny_home: Path):
    with run_server(home=tiny_home, workers=2) as srv:
        yield srv


def test_engine_selected_and_voices_listed(server) -> None:
    with server.client() as client:
        voices = client.get("/v1/audio/voices").json()
    assert voices["engine"] == "emotivoice"
    assert len(voices["data"]) == 2014
    first = voices["data"][0]
    assert first["id"] == "8051" and "alloy" in first["aliases"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_openai_speech_every_format(server, fmt: str) -> None:
    body = {"model": "tts-1", "voice": "nova", "input": "你好，世界！Hello there.", "response_format": fmt,
            "instructions": "开心"}
    with server.client() as client:
        response = client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    audio = decode(response.content, fmt)
    assert audio.duration > 0.3 and audio.rms > 0.01


def test_native_api_with_speaker_id_and_metadata(server) -> None:
    body = {"text": "第一句话。Second sentence!", "speaker": "9017", "emotion": "sad", "metadata": True}
    with server.client() as client:
        response = client.post("/v1/synthesize", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["engine"] == "emotivoice" and data["voice"] == "9017"
    assert data["emotion"] == "sad" and data["emotion_fallback"] is False
    assert data["sentences"] == 2 and data["sample_rate"] == 16000
    assert {"frontend", "bert", "acoustic", "vocoder"} <= set(data["timings"])


def test_unknown_voice_and_empty_text_are_400(server) -> None:
    with server.client() as client:
        bad_voice = client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "nobody", "input": "你好"})
        no_text = client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "……"})
    assert bad_voice.status_code == 400
    assert no_text.status_code == 400


def test_bad_home_never_turns_ready_and_names_the_file(tmp_path: Path) -> None:
    with run_server(home=tmp_path, wait_ready=False) as srv:
        ready = srv.readiness_after_load()
    assert ready.status_code == 503
    assert "outputs/prompt_tts_open_source_joint/ckpt/g_00140000" in ready.json()["error"]


def test_streaming_routes_use_the_chunked_vocoder_and_match_the_whole_file(tiny_home: Path) -> None:
    """Issue 13: the streaming routes ask the engine for pieces (first audio after a small part of the
    vocoding); the streamed audio equals the whole-file audio within a 16-bit step."""
    import numpy as np

    from function.engines.registry import load_engine
    from function.settings import Settings

    calls: list[str] = []

    def loader():  # the configured engine, counting which synthesis path each request takes
        engine, seconds = load_engine(Settings(home=tiny_home))
        whole, pieces = engine.synthesize, engine.synthesize_streaming
        engine.synthesize = lambda r: (calls.append("whole"), whole(r))[1]
        engine.synthesize_streaming = lambda r: (calls.append("pieces"), pieces(r))[1]
        return engine, seconds

    text = "今天的天气非常好，我们一起去公园散步吧。"
    with run_server(loader=loader, home=tiny_home) as srv, srv.client() as client:
        calls.clear()
        whole = client.post("/v1/synthesize", json={"text": text, "speaker": "8051", "format": "pcm"})
        streamed = client.post("/v1/synthesize", json={"text": text, "speaker": "8051", "format": "pcm",
                                                        "stream": True})
    assert whole.status_code == streamed.status_code == 200
    assert calls == ["whole", "pieces"]
    a = np.frombuffer(whole.content, "<i2").astype(int)
    b = np.frombuffer(streamed.content, "<i2").astype(int)
    assert len(a) == len(b) and np.abs(a - b).max() <= 1
