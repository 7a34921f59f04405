"""The random-home generator: CLI, official layout, and (marked slow) upstream's full dimensions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from function.engines.base import SynthesisRequest
from function.engines.emotivoice import layout
from function.engines.emotivoice.engine import EmotiVoiceEngine
from function.engines.emotivoice.loader import load_home
from testkit.random_home import main, synthetic_vocab, write_home


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "--size" in capsys.readouterr().out


def test_cli_writes_a_fine_tuned_style_home_without_shared_data(tmp_path: Path) -> None:
    dest = tmp_path / "home"
    assert main([str(dest), "--quiet", "--weight-norm", "parametrizations", "--extra-speakers", "2", "--seed", "5"]) == 0
    for rel in (layout.AM_CKPT, layout.STYLE_CKPT, layout.BERT_CONFIG, layout.BERT_VOCAB, layout.TOKENLIST,
                layout.SPEAKERS, layout.LEXICON, layout.CONFIG, *layout.LABEL_FILES):
        assert (dest / rel).is_file(), rel
    style = torch.load(dest / layout.STYLE_CKPT, weights_only=True)["model"]
    assert all(k.startswith("module.") for k in style)
    assert "module.bert.embeddings.position_ids" in style and "module.emotion_clf.classifier.weight" in style
    loaded = load_home(dest)
    assert loaded.acoustic.config.n_speaker == 2016
    engine = EmotiVoiceEngine(loaded)
    chunks = list(engine.synthesize(SynthesisRequest(text="你好，hello world。", voice="alloy")))
    assert chunks and chunks[0].pcm.std() > 0.01 and abs(float(chunks[0].pcm.mean())) < 0.1


def test_generation_is_deterministic(tmp_path: Path, shared_dir: Path) -> None:
    a = write_home(tmp_path / "a", "tiny", shared_dir, seed=9)
    b = write_home(tmp_path / "b", "tiny", shared_dir, seed=9)
    sa = torch.load(a / layout.AM_CKPT, weights_only=True)["generator"]
    sb = torch.load(b / layout.AM_CKPT, weights_only=True)["generator"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_synthetic_vocab_conventions() -> None:
    vocab = synthetic_vocab(500, "你好")
    assert len(vocab) == 500 and len(set(vocab)) == 500
    assert vocab[0] == "[PAD]" and vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "你" in vocab and "好" in vocab and "##s" in vocab


@pytest.mark.slow
def test_full_size_home_matches_upstream_dimensions(tmp_path: Path, shared_dir: Path) -> None:
    home = write_home(tmp_path / "full", "full", shared_dir)
    keys = {}
    for line in (shared_dir / "g_checkpoint_keys.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, shape, _ = line.split("\t")
            keys[name] = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
    joint = torch.load(home / layout.AM_CKPT, weights_only=True, mmap=True)["generator"]
    assert {k: tuple(v.shape) for k, v in joint.items()} == keys
    style_keys = {}
    for line in (shared_dir / "style_encoder_checkpoint_keys.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, shape, _ = line.split("\t")
            style_keys[name] = tuple(int(d) for d in shape.split("x"))
    style = torch.load(home / layout.STYLE_CKPT, weights_only=True, mmap=True)["model"]
    style.pop("module.bert.embeddings.position_ids")
    assert {k: tuple(v.shape) for k, v in style.items()} == style_keys

    loaded = load_home(home)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert abs(count(loaded.acoustic) / 38.1e6 - 1) < 0.01
    assert abs(count(loaded.vocoder) / 13.9e6 - 1) < 0.01
    assert abs(count(loaded.bert) / 96.7e6 - 1) < 0.01
    chunk = next(iter(EmotiVoiceEngine(loaded).synthesize(SynthesisRequest(text="你好。", voice="8051"))))
    assert chunk.pcm.shape[0] % 256 == 0 and chunk.pcm.std() > 0.01
