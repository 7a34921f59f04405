"""The official OpenAI SDK against a real server: every format, streaming, SSE, mixed text."""

from __future__ import annotations

import base64
import json
import struct

import httpx
import openai
import pytest

from tests.audio_check import decode
from tests.conftest import RunningServer

FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
TEXT = "Hello there. This is a short test of the speech service."


@pytest.fixture(scope="module")
def client(espeak_server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{espeak_server.url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_audible_speech(client: openai.OpenAI, fmt: str) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
    audio = decode(response.content, fmt)
    assert audio.sample_rate in (24_000, 48_000)  # Ogg Opus always decodes at 48 kHz
    assert 1.5 < audio.duration < 12.0, audio.duration
    assert audio.rms > 0.01, "audio is silent"


@pytest.mark.parametrize("voice", ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                                   "shimmer", "verse"])
def test_openai_voice_names_work(client: openai.OpenAI, voice: str) -> None:
    response = client.audio.speech.create(model="tts-1", voice=voice, input="Hi.", response_format="wav")
    assert decode(response.content, "wav").rms > 0.005


def test_streaming_response_is_one_valid_wav(client: openai.OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input=TEXT + " And a second sentence follows it.", response_format="wav"
    ) as response:
        assert response.headers["content-type"] == "audio/wav"
        pieces = list(response.iter_bytes())
    data = b"".join(pieces)
    assert data[:4] == b"RIFF" and data.count(b"RIFF") == 1
    assert struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF  # streaming size
    assert struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF
    assert decode(data, "wav").duration > 2.0


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_streamed_compressed_output_is_one_container(client: openai.OpenAI, fmt: str) -> None:
    text = "第一句话。第二句话在这里。Third sentence here!"
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="coral", input=text, response_format=fmt
    ) as response:
        data = response.read()
    if fmt == "opus":
        assert data.count(b"OpusHead") == 1  # one logical stream, not a chain of files
        # The last Ogg page carries the end-of-stream flag (header_type bit 0x04): the last page was flushed.
        last = data.rfind(b"OggS")
        assert data[last + 5] & 0x04
    else:
        assert data.count(b"ID3") <= 1
    assert decode(data, fmt).duration > 2.0


def test_mixed_chinese_english_text(client: openai.OpenAI) -> None:
    zh = decode(client.audio.speech.create(model="tts-1", voice="marin", input="今天天气很好。",
                                           response_format="wav").content, "wav")
    mixed = decode(client.audio.speech.create(model="tts-1", voice="marin",
                                              input="今天天气很好，我们去 shopping mall 买 iPhone 吧。",
                                              response_format="wav").content, "wav")
    assert mixed.rms > 0.01
    assert mixed.duration > zh.duration + 0.5  # the English words were spoken, not dropped


def test_instructions_emotion_and_fallback_header(espeak_server: RunningServer) -> None:
    with espeak_server.client() as http:
        ok = http.post("/v1/audio/speech", json={"input": "你好", "voice": "alloy", "instructions": "非常开心",
                                                 "response_format": "wav"})
        odd = http.post("/v1/audio/speech", json={"input": "你好", "voice": "alloy", "instructions": "zorbly",
                                                  "response_format": "wav"})
    assert ok.status_code == 200 and ok.headers["x-emotion"] == "happy"
    assert ok.headers["x-emotion-fallback"] == "false"
    assert odd.status_code == 200 and odd.headers["x-emotion"] == "neutral"
    assert odd.headers["x-emotion-fallback"] == "true"


def test_emotions_change_prosody(espeak_server: RunningServer) -> None:
    with espeak_server.client() as http:
        def duration(prompt: str) -> float:
            r = http.post("/v1/audio/speech", json={"input": "我今天非常想去公园散步。", "voice": "alloy",
                                                    "instructions": prompt, "response_format": "wav"})
            return decode(r.content, "wav").duration
        assert duration("悲伤") > duration("开心") * 1.15  # sad is slower than happy


def test_speed_changes_duration(client: openai.OpenAI) -> None:
    def duration(speed: float) -> float:
        return decode(client.audio.speech.create(model="tts-1", voice="echo", input=TEXT, response_format="wav",
                                                 speed=speed).content, "wav").duration
    normal, slow, fast = duration(1.0), duration(0.25), duration(4.0)
    assert slow > normal * 2.5
    assert fast < normal / 2


def test_sse_stream_parses(espeak_server: RunningServer) -> None:
    body = {"input": "One sentence. Two sentences! 三句话。", "voice": "alloy", "response_format": "mp3",
            "stream_format": "sse"}
    events = []
    with httpx.stream("POST", f"{espeak_server.url}/v1/audio/speech", json=body, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["input_tokens"] == len(body["input"])
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert decode(audio, "mp3").duration > 1.5


def test_models_and_voices(client: openai.OpenAI, espeak_server: RunningServer) -> None:
    ids = [m.id for m in client.models.list()]
    assert "tts-1" in ids and "espeak" in ids
    voices = httpx.get(f"{espeak_server.url}/v1/audio/voices").json()
    assert voices["engine"] == "espeak"
    aliases = {a for v in voices["data"] for a in v["aliases"]}
    assert {"alloy", "echo", "nova", "onyx", "shimmer"} <= aliases
    assert {v["language"] for v in voices["data"]} == {"zh", "en"}
