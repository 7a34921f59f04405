"""What the start path imports (issue 13): cold start is the product, and every module imported before the
server listens delays it.

``emotivoice-fn serve`` imports the app, builds the Runtime and the app and loads uvicorn's config before it
listens; the engine then loads on a thread while liveness already answers. Nothing that the first plain WAV
request with auth off does not need may be imported on that path: JWT and cryptography (``EMOTIVOICE_AUTH=
jwt`` only), PyAV (compressed formats), soundfile (reference clips), boto3/botocore (S3 storage), the
CloudEvents SDK and httpx (events, the broker sink, key-set fetches), cn2an (text with digits), torch and
onnxruntime (EmotiVoice engines, never espeak). Each is imported where it is first used;
``test_lazy_features_still_import_when_used`` shows they still are. numpy and soxr are needed by a first
request but not to listen: numpy is imported by the engine on its loading thread, soxr by the first
request at a rate other than the engine's.

Each check runs in a fresh interpreter: ``sys.modules`` of the test process holds whatever other tests
imported.

The deeper behaviour of each lazily imported feature is covered where it lives: compressed formats and
resampling in ``tests/foundation/test_audio_encoding.py``; JWT verification (secret, PEM, JWKS file and
URL) in ``tests/foundation/test_auth.py``, ``tests/security/test_keys.py`` and
``tests/security/test_token_fuzz.py``; OIDC event tokens in ``tests/security/test_event_auth.py``;
CloudEvents parsing, replies and the broker sink in ``tests/events/test_cloudevents.py`` and
``tests/events/test_batches.py``; numbers read by cn2an in ``tests/emotivoice/test_frontend.py``; S3 in
``tests/hardening/test_storage_faults.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Never imported before the server listens, nor by the engine load or a first WAV request with auth off.
NOT_ON_START_PATH = ("jwt", "cryptography", "av", "soundfile", "boto3", "botocore", "cloudevents", "httpx",
                     "cn2an", "torch", "onnxruntime", "PIL")
# Needed by a first request but not to listen: numpy (the engine makes arrays; imported on the loading
# thread) and soxr (the OpenAI route answers at 24 kHz, espeak speaks at 22.05 kHz: the first such request).
NOT_BEFORE_LISTENING = ("numpy", "soxr")

SERVE_PATH = r"""
import asyncio, json, sys

# What `emotivoice-fn serve` does before uvicorn listens (function/cli.py: serve).
from function.cli import load_settings
from function.http.app import create_app
from function.http.server import server_config
from function.logs import configure
from function.service.runtime import Runtime

settings = load_settings()
configure(settings.log_level, settings.log_format)
runtime = Runtime(settings)
app = create_app(settings, runtime=runtime)
server_config(app, "127.0.0.1", 0, log_config=None).load()
listening = sorted(sys.modules)

# Then the engine loads and the first request: a plain WAV at the engine's rate, auth off.
runtime.host.load()
assert runtime.readiness().ready, runtime.readiness()

async def call(path, body):
    sent, body = [], json.dumps(body).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    async def receive():  # the body, then a client that stays connected (a disconnect would end a stream)
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"host", b"127.0.0.1")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080), "state": {}}
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

status, audio = asyncio.run(call("/v1/audio/speech", {"input": "Hello there.", "voice": "alloy",
                                                      "response_format": "wav"}))
runtime.stop()
print(json.dumps({"listening": listening, "after_first_request": sorted(sys.modules), "status": status,
                  "riff": audio[:4].decode("latin-1"), "bytes": len(audio)}))
"""


def _fresh(script: str, tmp_path: Path, **env: str) -> dict[str, object]:
    """Run ``script`` in a new interpreter with default settings (no EMOTIVOICE_* from this process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EMOTIVOICE_", "K_SINK"))}
    clean.update({"EMOTIVOICE_STORAGE_DIR": str(tmp_path), "EMOTIVOICE_LOG_LEVEL": "WARNING", **env})
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _loaded(modules: object, names: tuple[str, ...]) -> list[str]:
    """Which of the packages ``names`` (or any of their submodules) are among ``modules``."""
    assert isinstance(modules, list)
    return sorted({name for m in modules for name in names if m == name or m.startswith(name + ".")})


def test_serve_imports_nothing_a_first_wav_request_does_not_need(tmp_path: Path) -> None:
    """Default settings (auth off, local storage, no sink, espeak): before listening none of the lazily
    imported libraries is loaded, and after the engine loaded and answered an OpenAI-route WAV request
    only what that needed (numpy, soxr) is."""
    found = _fresh(SERVE_PATH, tmp_path, EMOTIVOICE_ENGINE="espeak")
    assert found["status"] == 200 and found["riff"] == "RIFF", found
    before = _loaded(found["listening"], NOT_ON_START_PATH + NOT_BEFORE_LISTENING)
    assert not before, f"imported before the server listens: {before}"
    after = _loaded(found["after_first_request"], NOT_ON_START_PATH)
    assert not after, f"imported by the engine load or a first WAV request: {after}"


LAZY_FEATURES = r"""
import asyncio, json, sys, time
import numpy as np

def fresh(*names):
    return {n: n in sys.modules for n in names}

report = {}
import function.http.app  # the whole app imported: none of these yet
report["at start"] = fresh("av", "soxr", "jwt", "cryptography", "httpx", "cloudevents", "cn2an")

from function.audio.encoding import make_encoder
pcm = (0.1 * np.sin(np.linspace(0, 200, 24000))).astype(np.float32)
enc = make_encoder("mp3", 24000, streaming=False)
mp3 = enc.encode(pcm) + enc.finish()
report["mp3"] = {"imports av": "av" in sys.modules, "frame sync": mp3[:3] == b"ID3" or mp3[0] == 0xFF}
enc = make_encoder("wav", 24000, 16000, streaming=False)
wav = enc.encode(pcm) + enc.finish()
report["resampled wav"] = {"imports soxr": "soxr" in sys.modules, "samples": (len(wav) - 44) // 2}

from function.auth import TokenVerifier
from function.settings import Settings
import jwt as pyjwt  # the test's own token; the verifier imported it lazily already or will
settings = Settings(auth="jwt", jwt_secret="s" * 32)
token = pyjwt.encode({"sub": "a", "exp": int(time.time()) + 60}, "s" * 32, algorithm="HS256")
claims = asyncio.run(TokenVerifier.for_api(settings).verify(f"Bearer {token}"))
report["jwt"] = {"sub": claims["sub"]}

from function.events.envelope import parse
event = parse({"ce-id": "1", "ce-source": "/t", "ce-type": "dev.emotivoice.synthesis.requested",
               "ce-specversion": "1.0", "content-type": "application/json"}, b'{"input": "hi"}')
report["cloudevent"] = {"imports cloudevents": "cloudevents" in sys.modules, "id": event.id}

from function.sink import make_event
report["sink event"] = {"type": make_event("t", "/s", "1", {}).get_type()}

try:
    from function.engines.emotivoice.numbers import numbers_to_chinese
except ModuleNotFoundError:  # no emotivoice extra installed
    report["numbers"] = None
else:
    plain = numbers_to_chinese("no digits here")
    before = "cn2an" in sys.modules
    report["numbers"] = {"cn2an before a digit": before, "2023": numbers_to_chinese("2023"),
                         "cn2an after": "cn2an" in sys.modules}
print(json.dumps(report, ensure_ascii=False))
"""


def test_lazy_features_still_import_when_used(tmp_path: Path) -> None:
    """Each library left off the start path is imported by the first use that needs it, and works."""
    report = _fresh(LAZY_FEATURES, tmp_path)
    assert report["at start"] == dict.fromkeys(("av", "soxr", "jwt", "cryptography", "httpx", "cloudevents",
                                                "cn2an"), False), report
    assert report["mp3"] == {"imports av": True, "frame sync": True}, report
    assert report["resampled wav"] == {"imports soxr": True, "samples": 16000}, report
    assert report["jwt"] == {"sub": "a"}
    assert report["cloudevent"] == {"imports cloudevents": True, "id": "1"}
    assert report["sink event"] == {"type": "t"}
    if report["numbers"] is None:
        pytest.skip("cn2an (the emotivoice extra) is not installed")
    assert report["numbers"] == {"cn2an before a digit": False, "2023": "二千零二十三", "cn2an after": True}
