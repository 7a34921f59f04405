"""The matching machinery without a server: the exported encoder against resemblyzer's original, the numpy
front end, silence trimming, decoding, the voice index file and the blend weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from function.audio.decode import decode_clip, sniff
from function.engines.matching import frontend as F
from function.engines.matching.encoder import DEFAULT_MODEL_PATH, SpeakerEncoder, shared_encoder
from function.engines.matching.index import IndexUnusable, VoiceIndex, build_index, index_key
from function.engines.matching.match import nearest
from function.errors import ServiceError
from tests.voices.conftest import encode, speak

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process (the test process never imports torch): resemblyzer (torch + librosa). numba's
# JIT stays on: NUMBA_DISABLE_JIT breaks librosa's resampling in a fresh venv (~25 s of compilation instead).
PARITY_SCRIPT = r"""
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
import torch
from resemblyzer import VoiceEncoder, preprocess_wav
from resemblyzer.audio import wav_to_mel_spectrogram
from function.engines.matching import frontend as F
from function.engines.matching.encoder import SpeakerEncoder
from tests.voices.conftest import speak

pcm, rate = speak("en-us-m1", "Good morning everyone, thank you for joining the meeting today.")
theirs = preprocess_wav(pcm, source_sr=rate)
original = VoiceEncoder("cpu", verbose=False)
exported = SpeakerEncoder(__import__("pathlib").Path(sys.argv[1]))
mel_ref, mel = wav_to_mel_spectrogram(theirs), F.mel_frames(theirs)
mels = F.partial_mels(theirs)
with torch.no_grad():
    net_ref = original(torch.from_numpy(mels)).numpy()
net = exported.partial_embeddings(theirs)
emb_ref, emb = original.embed_utterance(theirs), exported.embed(theirs)
ours = exported.embed(F.prepare(pcm, rate).wav)
print(json.dumps({
    "mel_shape_equal": mel_ref.shape == mel.shape,
    "mel_rel": float(np.abs(mel_ref - mel).max() / np.abs(mel_ref).max()),
    "net_abs": float(np.abs(net_ref - net).max()),
    "embedding_abs": float(np.abs(emb_ref - emb).max()),
    "pipeline_cosine": float(ours @ emb_ref),
}))
"""


def _has(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    if not DEFAULT_MODEL_PATH.is_file():
        pytest.fail(f"{DEFAULT_MODEL_PATH} missing: `make install` exports it (python -m function.engines.matching.export)")
    return shared_encoder()


@pytest.mark.skipif(not _has("resemblyzer"), reason="resemblyzer not installed (pip extra voices-build)")
def test_exported_encoder_matches_resemblyzer(encoder: SpeakerEncoder) -> None:
    """Exported vs original on real speech: mel front end, network, utterance embedding; and our whole
    pipeline (soxr + our silence trim) against resemblyzer's (librosa + webrtcvad)."""
    env = {**{k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PARITY_SCRIPT, str(DEFAULT_MODEL_PATH)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["mel_shape_equal"] and figures["mel_rel"] < 1e-5, figures
    assert figures["net_abs"] < 1e-5 and figures["embedding_abs"] < 1e-5, figures
    assert figures["pipeline_cosine"] > 0.98, figures


def test_encoder_is_loaded_once_and_embeds_unit_vectors(encoder: SpeakerEncoder) -> None:
    assert shared_encoder() is encoder and encoder.version.startswith("resemblyzer-")
    pcm, rate = speak("zh-f2", "今天的会议很重要，请大家准时参加。")
    trimmed = F.prepare(pcm, rate)
    embedding = encoder.embed(trimmed.wav)
    assert embedding.shape == (256,) and abs(float(np.linalg.norm(embedding)) - 1.0) < 1e-5
    assert np.all(embedding >= 0)  # ReLU before the norm, as resemblyzer's
    assert np.array_equal(embedding, encoder.embed(trimmed.wav))  # deterministic


def test_missing_encoder_is_a_clear_503(tmp_path: Path) -> None:
    with pytest.raises(ServiceError) as info:
        SpeakerEncoder(tmp_path / "nothing.onnx")
    assert info.value.code == "speaker_encoder_unavailable" and info.value.kind.http_status == 503


def test_trim_removes_long_silences_and_keeps_speech() -> None:
    pcm, rate = speak("en-us-f2", "Thank you for joining the meeting today.")
    speech = F.prepare(pcm, rate)
    silence = np.zeros(3 * rate, np.float32)
    hum = (0.0005 * np.sin(2 * np.pi * 50 * np.arange(2 * rate) / rate)).astype(np.float32)  # -69 dBFS
    padded = F.prepare(np.concatenate([silence, pcm, hum, silence, pcm, silence]), rate)
    assert 2 * speech.seconds - 0.3 <= padded.seconds <= 2 * speech.seconds + 0.6
    assert F.prepare(np.zeros(5 * rate, np.float32), rate).voiced_windows == 0
    quiet = F.normalize_volume(pcm * 0.01)
    assert abs(F.dbfs(quiet) - F.NORM_TARGET_DBFS) < 0.1
    assert np.array_equal(F.normalize_volume(pcm), pcm) or F.dbfs(pcm) < F.NORM_TARGET_DBFS  # never lowered


def test_partials_cover_the_clip_like_resemblyzer() -> None:
    assert len(F.partial_slices(8000)) == 1  # shorter than one window: still one
    slices = F.partial_slices(16000 * 5)
    assert slices[0] == slice(0, 160) and all(b.start - a.start == 77 for a, b in zip(slices, slices[1:]))
    assert F.partial_mels(np.zeros(16000 * 5, np.float32)).shape == (len(slices), 160, 40)


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("FLAC", None),
                                         ("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", None)])
def test_decode_formats_by_their_bytes(fmt: str, subtype: str | None) -> None:
    rate = 48000 if subtype == "OPUS" else 22050
    pcm = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate * 3) / rate)).astype(np.float32)
    stereo = np.stack([pcm, pcm], axis=1)
    data = encode(stereo, rate, fmt, subtype)
    clip = decode_clip(data, max_seconds=60)
    assert clip.format == {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}[fmt] == sniff(data)
    assert clip.channels == 2 and clip.sample_rate == rate and 2.9 < clip.seconds < 3.2
    assert 0.2 < float(np.abs(clip.pcm).max()) < 0.45  # lossy codecs overshoot a little


def test_decode_stops_at_the_length_limit() -> None:
    data = encode(np.full(16000 * 10, 0.1, np.float32), 16000, "FLAC")
    with pytest.raises(ServiceError) as info:
        decode_clip(data, max_seconds=5)
    assert info.value.code == "audio_too_long"


def _espeak():  # type: ignore[no-untyped-def]
    from function.engines.espeak.engine import EspeakEngine

    return EspeakEngine()


def test_index_build_save_load_and_versioning(encoder: SpeakerEncoder, tmp_path: Path) -> None:
    engine = _espeak()
    subset = build_index(engine, encoder, model_id="m1", voice_ids=["en-us-m3", "nova", "zh-f2"])
    assert subset.ids == ("en-us-m3", "en-us-f2", "zh-f2") and subset.meta["subset"] is True
    path = subset.save(tmp_path)
    assert path.name == f"voice-index-espeak-{subset.key}.npz"
    loaded = VoiceIndex.load(path)
    assert loaded.ids == subset.ids and np.array_equal(loaded.embeddings, subset.embeddings)
    assert loaded.key == subset.key
    # Another model or encoder is another key: a pod never reads an index made for other weights.
    assert index_key("espeak", engine.version, "m2", encoder.version) != subset.key
    assert index_key("espeak", engine.version, "m1", "resemblyzer-other") != subset.key
    path.write_bytes(b"not an npz")
    with pytest.raises(IndexUnusable):
        VoiceIndex.load(path)


def test_nearest_weights() -> None:
    ids = tuple(f"v{i}" for i in range(5))
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(5, 256)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    index = VoiceIndex("e", "1", "m", "enc", ids, rows)
    exact = nearest(index, rows[3], k=3)
    assert exact[0].voice == "v3" and exact[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert exact[0].weight == 1.0 and len(exact) == 1  # the others are far: they carry no weight
    between = rows[1] + rows[2]
    mixed = nearest(index, between / np.linalg.norm(between), k=3)
    assert {m.voice for m in mixed[:2]} == {"v1", "v2"}
    assert abs(mixed[0].weight - mixed[1].weight) < 0.2 and sum(m.weight for m in mixed) == pytest.approx(1.0)
    assert all(m.weight >= 0.05 for m in mixed) and len(nearest(index, rows[0], k=1)) == 1
