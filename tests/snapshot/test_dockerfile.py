"""The Dockerfile's shape (no Docker daemon here): named targets, non-root, port, snapshot baked in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stages(text: str) -> dict[str, str]:
    parts = re.split(r"^FROM\s+", text, flags=re.M)[1:]
    out = {}
    for part in parts:
        header = part.splitlines()[0]
        name = header.split(" AS ")[1].strip() if " AS " in header else header
        out[name] = part
    return out


def test_dockerfile_targets() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = _stages(text)
    assert list(stages)[0] == "espeak" and text.count("FROM python:3.11-slim AS espeak") == 1
    assert {"espeak", "emotivoice-home", "deps", "snapshot", "emotivoice"} <= set(stages)
    assert list(stages)[-1] == "emotivoice"  # the default target
    for name in ("espeak", "emotivoice"):
        assert "USER 10001" in stages[name] and "EXPOSE 8080" in stages[name]
        assert '"emotivoice-fn", "serve"' in stages[name]
    runtime = stages["emotivoice"]
    assert "EMOTIVOICE_SNAPSHOT=/opt/emotivoice/snapshot" in runtime
    assert "COPY --from=snapshot /snapshot /opt/emotivoice/snapshot" in runtime
    assert "/build/home" not in runtime  # checkpoints never reach the runtime image
    assert "emotivoice-fn snapshot --verify" in stages["snapshot"]
    assert "snapshot.fetch_weights" in stages["snapshot"]


def test_fetch_weights_help_and_context_check(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "snapshot.fetch_weights", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--source" in out.stdout
    out = subprocess.run([sys.executable, "-m", "snapshot.fetch_weights", "--home", str(tmp_path), "--source", "context"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "missing" in out.stderr and "g_00140000" in out.stderr


def test_fetch_plan_covers_every_required_file() -> None:
    from snapshot.fetch_weights import REQUIRED, plan

    urls = plan("modelscope", ref="abc", ms_revision="master", hf_revision="main", hf_outputs_repo=None, urls={})
    assert set(urls) == set(REQUIRED)
    assert all(u.startswith("https://") for u in urls.values())
    assert "syq163/outputs" in urls["outputs/style_encoder/ckpt/checkpoint_163431"]
    hf = plan("huggingface", ref="abc", ms_revision="master", hf_revision="main", hf_outputs_repo="me/mirror",
              urls={"lexicon/librispeech-lexicon.txt": "https://example.org/lex"})
    assert hf["WangZeJun/simbert-base-chinese/vocab.txt"].startswith("https://huggingface.co/WangZeJun/simbert-base-chinese/")
    assert hf["lexicon/librispeech-lexicon.txt"] == "https://example.org/lex"


def test_runtime_image_serves_onnx_without_torch() -> None:
    """Issue 13: the emotivoice target's venv comes from serve-deps (onnxruntime, no torch); torch stays in
    the build stages that export the graphs."""
    stages = _stages((ROOT / "Dockerfile").read_text())
    serve, runtime = stages["serve-deps"], stages["emotivoice"]
    assert ".[emotivoice-onnx]" in serve and "torch" not in serve.replace("find_spec('torch') is None", "")
    assert "COPY --from=serve-deps /opt/venv /opt/venv" in runtime and "--from=deps" not in runtime
    assert "EMOTIVOICE_RUNTIME=onnx" in runtime
    assert ".[emotivoice]" in stages["deps"]  # the build stage keeps torch (and onnxruntime) to export
