"""The neural modules against SPEC-literal references, batched == single item, tokenizer behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from function.engines.emotivoice import layout
from function.engines.emotivoice.acoustic import AcousticModel
from function.engines.emotivoice.loader import load_home
from function.engines.emotivoice.tokenizer import WordPieceTokenizer

from . import reference


@pytest.fixture(scope="module")
def loaded(tiny_home: Path):
    return load_home(tiny_home)


@pytest.fixture(scope="module")
def raw_joint(tiny_home: Path) -> dict[str, torch.Tensor]:
    return torch.load(tiny_home / layout.AM_CKPT, weights_only=True)["generator"]


@pytest.fixture(scope="module")
def raw_style(tiny_home: Path) -> dict[str, torch.Tensor]:
    return torch.load(tiny_home / layout.STYLE_CKPT, weights_only=True)["model"]


def test_tokenizer_reference_rules() -> None:
    vocab = {t: i for i, t in enumerate(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", ",", "世", "界", "!", "play", "##ing", "cafe", "开", "心"])}
    tok = WordPieceTokenizer(vocab)
    assert tok.basic_tokens("Hello, 世界!") == ["hello", ",", "世", "界", "!"]
    assert tok.encode("Hello, 世界!") == [2, 4, 5, 6, 7, 8, 3]
    assert tok.encode("PLAYING Café") == [2, 9, 10, 11, 3]  # lower-cased, accent stripped, ## pieces
    assert tok.encode("plays 开心\x00") == [2, 1, 12, 13, 3]  # uncoverable word -> [UNK]; control char dropped
    assert tok.encode("x" * 101) == [2, 1, 3]
    assert len(tok.encode("开" * 600)) == 512


def test_bert_matches_reference_and_batching(loaded, raw_style) -> None:
    texts = ["开心", "用很悲伤的语气说话", "Hello world"]
    heads = loaded.bert.config.num_attention_heads
    with torch.inference_mode():
        singles = [loaded.bert(torch.tensor([loaded.tokenizer.encode(t)])) for t in texts]
        encoded = [loaded.tokenizer.encode(t) for t in texts]
        ids = torch.zeros(len(texts), max(map(len, encoded)), dtype=torch.long)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
        batched = loaded.bert(ids, torch.tensor([len(e) for e in encoded]))
    for i, text in enumerate(texts):
        ref = reference.bert_pooler(raw_style, loaded.tokenizer.encode(text), heads)
        assert torch.allclose(singles[i][0], ref, atol=1e-5)
        assert torch.allclose(batched[i], singles[i][0], atol=1e-5)


def test_acoustic_matches_spec_reference(loaded, raw_joint) -> None:
    gen = torch.Generator().manual_seed(0)
    ids = [1, 50, 60, 300, 301, 302, 70, 1]
    style, content = torch.randn(32, generator=gen), torch.randn(32, generator=gen)
    with torch.inference_mode():
        frames = loaded.acoustic(torch.tensor([ids]), torch.tensor([len(ids)]), torch.tensor([7]),
                                 style[None], content[None])[0]
    ref = reference.acoustic(raw_joint, ids, 7, style, content, loaded.acoustic.config.heads)
    assert frames.shape == ref.shape and frames.shape[1] == 80
    assert 2 * len(ids) <= frames.shape[0] <= 12 * len(ids)  # biased durations: a few frames per token
    assert torch.allclose(frames, ref, atol=1e-4)


def test_vocoder_matches_weight_norm_reference(loaded, raw_joint) -> None:
    mel = torch.randn(80, 9, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        wav = loaded.vocoder(mel[None])[0]
    ref = reference.vocoder(raw_joint, mel)
    assert wav.shape == (9 * 256,)
    assert torch.allclose(wav, ref, atol=1e-5)


def test_batched_acoustic_equals_single(loaded) -> None:
    gen = torch.Generator().manual_seed(2)
    sequences = [[1, 5, 9, 200, 1], [1] + list(range(100, 130)) + [1], [1, 300, 301, 1], [1] + list(range(40, 52)) + [1]]
    style = torch.randn(1, 32, generator=gen)
    content = torch.randn(len(sequences), 32, generator=gen)
    speakers = torch.tensor([3, 3, 3, 3])
    with torch.inference_mode():
        singles = [
            loaded.acoustic(torch.tensor([s]), torch.tensor([len(s)]), speakers[:1], style, content[i : i + 1])[0]
            for i, s in enumerate(sequences)
        ]
        lengths = torch.tensor([len(s) for s in sequences])
        padded = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
        for i, s in enumerate(sequences):
            padded[i, : len(s)] = torch.tensor(s)
        batched = loaded.acoustic(padded, lengths, speakers, style.expand(4, -1), content)
    assert len({b.shape[0] for b in batched}) > 1  # items really differ in length (padding is exercised)
    for single, item in zip(singles, batched):
        assert single.shape == item.shape
        assert torch.allclose(single, item, atol=1e-4), (single - item).abs().max()


def test_durations_rules() -> None:
    valid = torch.tensor([[True, True, True, False]])
    zeros = AcousticModel.durations(torch.full((1, 4), -5.0), valid, 1.0)
    assert zeros.tolist() == [[1.0, 1.0, 1.0, 0.0]]  # all-zero item -> every real token lasts one frame
    log_d = torch.log(torch.tensor([[5.0, 7.0, 3.0, 9.0]]))  # exp - 1 = 4, 6, 2
    assert AcousticModel.durations(log_d, valid, 1.0).tolist() == [[4.0, 6.0, 2.0, 0.0]]
    assert AcousticModel.durations(log_d, valid, 2.0).tolist() == [[2.0, 3.0, 1.0, 0.0]]
    assert AcousticModel.durations(log_d, valid, 0.5).tolist() == [[8.0, 12.0, 4.0, 0.0]]


def test_gaussian_upsampling_is_softmax_of_distance() -> None:
    x = torch.eye(3)[None]
    d = torch.tensor([[2.0, 1.0, 3.0]])
    frames, counts = AcousticModel.upsample(x, d, torch.ones(1, 3, dtype=torch.bool))
    assert counts.tolist() == [6]
    centres = torch.tensor([1.0, 2.5, 4.5])
    for t in range(6):
        assert torch.allclose(frames[0, t], torch.softmax(-0.1 * (t - centres) ** 2, 0))


def test_engine_modules_compile_as_they_are_and_compute_the_same(loaded) -> None:
    """The snapshot compiles the engine's own acoustic model and BERT (no restated copy): scripted, they
    give exactly the eager result, padded batch and speed included."""
    acoustic, bert = torch.jit.script(loaded.acoustic), torch.jit.script(loaded.bert)
    sequences = [[1, 5, 9, 200, 1], [1] + list(range(100, 130)) + [1], [1, 300, 301, 1]]
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s)
    gen = torch.Generator().manual_seed(3)
    style = torch.randn(1, 32, generator=gen).expand(3, -1)
    content = torch.randn(3, 32, generator=gen)
    speakers = torch.tensor([3, 3, 3])
    with torch.inference_mode():
        for speed in (torch.full((3,), 1.0), torch.tensor([0.5, 1.2, 3.0])):
            eager = loaded.acoustic(ids, lengths, speakers, style, content, speed)
            compiled = acoustic(ids, lengths, speakers, style, content, speed)
            assert [x.shape for x in compiled] == [x.shape for x in eager]
            assert all(torch.equal(x, y) for x, y in zip(compiled, eager))
        assert torch.equal(bert(ids, lengths), loaded.bert(ids, lengths))
        assert torch.equal(bert(ids[:1, :5]), loaded.bert(ids[:1, :5]))


def test_float_speed_equals_a_speed_per_item(loaded) -> None:
    """The engine hands the acoustic model one speed per item (every runtime takes tensors); a float
    speed, as upstream passes it, gives the very same frames."""
    ids = torch.tensor([[1, 50, 60, 300, 301, 302, 70, 1]])
    style = torch.randn(1, 32, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        for speed in (1.0, 1.2, 0.8):
            as_float = loaded.acoustic(ids, torch.tensor([8]), torch.tensor([7]), style, style, speed)[0]
            as_tensor = loaded.acoustic(ids, torch.tensor([8]), torch.tensor([7]), style, style,
                                        torch.full((1,), speed, dtype=torch.float32))[0]
            assert torch.equal(as_float, as_tensor)
