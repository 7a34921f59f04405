"""Loader: both weight-norm key styles, sizes from shapes, and a named error for every missing piece."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from function.engines.base import EngineLoadError
from function.engines.emotivoice import layout, load
from function.engines.emotivoice.loader import load_home
from function.engines.emotivoice.vocoder import fold_weight_norm
from function.settings import Settings
from testkit.random_home import write_home


def _copy(home: Path, dest: Path) -> Path:
    shutil.copytree(home, dest)
    return dest


def test_tiny_home_loads_with_sizes_from_shapes(tiny_home: Path) -> None:
    loaded = load_home(tiny_home)
    assert loaded.acoustic.config.n_vocab == 502
    assert loaded.acoustic.config.n_speaker == 2014 == len(loaded.speakers)
    assert loaded.acoustic.config.hidden == 32 and loaded.acoustic.config.heads == 2
    assert loaded.bert.config.hidden_size == 32 and loaded.bert.config.num_hidden_layers == 2
    assert loaded.vocoder.config.hop == 256 and loaded.vocoder.config.initial_channels == 32
    assert loaded.speakers[0] == "8051" and loaded.token_ids["<sos/eos>"] == 1
    assert "普通" in loaded.prompt_vocabulary
    assert not any(p.requires_grad for p in loaded.acoustic.parameters())


def test_both_weight_norm_styles_give_identical_vocoders(tmp_path: Path, shared_dir: Path) -> None:
    old = write_home(tmp_path / "old", "tiny", shared_dir, seed=3, weight_norm="old")
    new = write_home(tmp_path / "new", "tiny", shared_dir, seed=3, weight_norm="parametrizations")
    keys_old = torch.load(old / layout.AM_CKPT, weights_only=True)["generator"].keys()
    keys_new = torch.load(new / layout.AM_CKPT, weights_only=True)["generator"].keys()
    assert "generator.conv_pre.weight_g" in keys_old
    assert "generator.conv_pre.parametrizations.weight.original0" in keys_new
    a, b = load_home(old).vocoder, load_home(new).vocoder
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_fold_weight_norm_matches_torch_weight_norm() -> None:
    conv = torch.nn.utils.parametrizations.weight_norm(torch.nn.ConvTranspose1d(6, 4, 5))
    with torch.no_grad():
        conv.parametrizations.weight.original0.mul_(1.5)
    folded = fold_weight_norm(conv.state_dict())
    assert torch.allclose(folded["weight"], conv.weight, atol=1e-6)
    with pytest.warns(FutureWarning):  # deprecated API, but it is what wrote the released key style
        conv_old = torch.nn.utils.weight_norm(torch.nn.Conv1d(3, 5, 7))
    folded_old = fold_weight_norm(conv_old.state_dict())
    assert torch.allclose(folded_old["weight"], conv_old.weight, atol=1e-6)


def test_fine_tuned_sizes_load(tmp_path: Path, shared_dir: Path) -> None:
    home = write_home(tmp_path / "ft", "tiny", shared_dir, extra_speakers=3, extra_tokens=5)
    loaded = load_home(home)
    assert loaded.acoustic.config.n_speaker == 2017 and loaded.speakers[-1] == "900002"
    assert loaded.acoustic.config.n_vocab == 507 and loaded.token_ids["finetune_token4"] == 506


def test_latest_step_checkpoint_is_found(tmp_path: Path, tiny_home: Path) -> None:
    home = _copy(tiny_home, tmp_path / "steps")
    (home / layout.AM_CKPT).rename(home / layout.AM_CKPT_DIR / "g_00150000")
    (home / layout.STYLE_CKPT).rename(home / layout.STYLE_CKPT_DIR / "checkpoint_9")
    assert load_home(home).acoustic.config.n_vocab == 502


@pytest.mark.parametrize(
    "rel",
    [layout.AM_CKPT, layout.STYLE_CKPT, layout.BERT_CONFIG, layout.BERT_VOCAB, layout.TOKENLIST,
     layout.SPEAKERS, layout.LEXICON, layout.CONFIG],
    ids=lambda p: p.name,
)
def test_each_missing_file_is_named(tmp_path: Path, tiny_home: Path, rel: Path) -> None:
    home = _copy(tiny_home, tmp_path / "partial")
    (home / rel).unlink()
    with pytest.raises(EngineLoadError) as info:
        load_home(home)
    assert str(rel) in info.value.message
    assert info.value.code == "engine_load_failed"


def test_missing_label_file_only_warns(tmp_path: Path, tiny_home: Path) -> None:
    home = _copy(tiny_home, tmp_path / "nolabels")
    (home / layout.LABEL_FILES[0]).unlink()
    assert "普通" not in load_home(home).prompt_vocabulary


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ("am.encoder.encoders.0.norm1.weight", "am.encoder.encoders.0.norm1.weight"),
        ("generator.conv_post.weight_g", "generator.conv_post.weight_g"),
        ("am.src_word_emb.weight", "am.src_word_emb.weight"),
    ],
)
def test_missing_key_is_named(tmp_path: Path, tiny_home: Path, drop: str, expected: str) -> None:
    home = _copy(tiny_home, tmp_path / "badkeys")
    blob = torch.load(home / layout.AM_CKPT, weights_only=True)
    del blob["generator"][drop]
    torch.save(blob, home / layout.AM_CKPT)
    with pytest.raises(EngineLoadError) as info:
        load_home(home)
    assert expected.split(".weight")[0] in info.value.message
    assert str(layout.AM_CKPT) in info.value.message


def test_missing_style_key_is_named(tmp_path: Path, tiny_home: Path) -> None:
    home = _copy(tiny_home, tmp_path / "badstyle")
    blob = torch.load(home / layout.STYLE_CKPT, weights_only=True)
    del blob["model"]["module.bert.pooler.dense.weight"]
    torch.save(blob, home / layout.STYLE_CKPT)
    with pytest.raises(EngineLoadError, match=r"module\.bert\.pooler\.dense\.weight"):
        load_home(home)


def test_corrupt_checkpoint_and_bad_home(tmp_path: Path, tiny_home: Path) -> None:
    home = _copy(tiny_home, tmp_path / "corrupt")
    (home / layout.AM_CKPT).write_bytes(b"not a checkpoint")
    with pytest.raises(EngineLoadError, match="g_00140000"):
        load_home(home)
    with pytest.raises(EngineLoadError, match="not a directory"):
        load_home(tmp_path / "nowhere")


def test_load_settings_cases(tiny_home: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineLoadError, match="snapshot loading not implemented yet"):
        load(Settings(snapshot=tmp_path))
    with pytest.raises(EngineLoadError, match="EMOTIVOICE_HOME"):
        load(Settings())
    assert load(Settings(home=tiny_home)).name == "emotivoice"


def test_checkpoint_with_training_extras_loads(tmp_path: Path, tiny_home: Path) -> None:
    import argparse

    home = _copy(tiny_home, tmp_path / "extras")
    blob = torch.load(home / layout.STYLE_CKPT, weights_only=True)
    blob["optimizer"] = {"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 1e-5}]}
    blob["args"] = argparse.Namespace(lr=1e-5)  # not weights-only-safe
    torch.save(blob, home / layout.STYLE_CKPT)
    assert load_home(home).bert.config.hidden_size == 32
