"""Load an EmotiVoice home into ready-to-run modules, failing early with a message naming what is wrong.

Every size comes from tensor shapes (so fine-tuned checkpoints with more speakers or tokens load), the
style encoder's ``module.`` prefix is stripped, unused keys (``position_ids``, classifier heads, the
acoustic model's training-only alignment module) are ignored, and weight-normalised vocoder convolutions
are folded into plain weights. Checkpoints are memory-mapped, so the Adam moments inside the 1.16 GB
style-encoder file are never read.

Owns reading a home (the eager runtime); the result is one :class:`~parts.EngineParts`. Must not import
the engine, a snapshot runtime, or ``snapshot/`` (the build step, which imports this module).
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from function.engines.base import EngineLoadError
from function.engines.emotivoice import layout
from function.engines.emotivoice.acoustic import AcousticConfig, AcousticModel
from function.engines.emotivoice.bert import BertConfig, BertModel
from function.engines.emotivoice.english import read_lexicon
from function.engines.emotivoice.tokenizer import WordPieceTokenizer, read_vocab
from function.engines.emotivoice.vocoder import Vocoder, VocoderConfig, fold_weight_norm

log = logging.getLogger(__name__)


@dataclass
class LoadedHome:
    """Everything an engine needs, read from one home. Modules are in eval mode, gradients off."""

    home: Path
    acoustic: AcousticModel
    vocoder: Vocoder
    bert: BertModel
    tokenizer: WordPieceTokenizer
    token_ids: dict[str, int]
    speakers: list[str]
    lexicon: dict[str, tuple[str, ...]]
    prompt_vocabulary: list[str]
    speaker_table: dict[str, tuple[str, str, str]]  # id -> (name, gender letter, description)

    @property
    def hop(self) -> int:
        """Waveform samples per acoustic frame."""
        return self.vocoder.config.hop


def _require(home: Path, rel: Path) -> Path:
    path = home / rel
    if not path.is_file():
        raise EngineLoadError(f"EmotiVoice home {home} is missing the file {rel}")
    return path


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _torch_load(path: Path) -> Any:
    """Memory-mapped, weights-only load; older non-zip files fall back to a plain load, and a file whose
    training extras (optimizer/argument objects) weights-only unpickling refuses is loaded in full, with
    a warning: it is the user's own checkpoint from upstream's recipe."""
    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError:
        log.warning("%s holds non-tensor objects; loading it without the weights-only guard", path.name)
        return torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except RuntimeError as exc:
        if "mmap" not in str(exc) and "zip" not in str(exc):
            raise
    return torch.load(path, map_location="cpu", weights_only=True)


def _read_state(path: Path, rel: Path, wrapper: str) -> dict[str, torch.Tensor]:
    try:
        blob = _torch_load(path)
    except Exception as exc:  # corrupt or foreign file: name it, do not leak a stack trace
        raise EngineLoadError(f"cannot read checkpoint {rel}: {exc}") from exc
    if not isinstance(blob, dict) or wrapper not in blob or not isinstance(blob[wrapper], dict):
        raise EngineLoadError(f"checkpoint {rel} has no '{wrapper}' state dict")
    return blob[wrapper]


def _shape(state: dict[str, torch.Tensor], key: str, source: Path, prefix: str = "") -> torch.Size:
    if key not in state:
        raise EngineLoadError(f"checkpoint {source} lacks the key {prefix}{key}")
    return state[key].shape


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    indices = {int(m.group(1)) for key in state if (m := rx.match(key))}
    return max(indices) + 1 if indices else 0


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], source: Path, prefix: str) -> None:
    """Copy weights, naming the first missing keys (with their checkpoint prefix) if any are absent."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        shown = ", ".join(prefix + k for k in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise EngineLoadError(f"checkpoint {source} lacks the key(s) {shown}{more}")
    for key, target in expected.items():
        value = state[key]
        if value.shape != target.shape:
            raise EngineLoadError(
                f"checkpoint {source}: {prefix}{key} has shape {tuple(value.shape)}, expected {tuple(target.shape)}"
            )
    module.load_state_dict({k: state[k].float().contiguous() for k in expected}, strict=True)
    module.eval()
    module.requires_grad_(False)


def _yaml_model(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EngineLoadError(f"cannot parse {layout.CONFIG}: {exc}") from exc
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        raise EngineLoadError(f"{layout.CONFIG} has no 'model' section")
    return model


def build_acoustic(state: dict[str, torch.Tensor], model_cfg: dict[str, Any], source: Path) -> AcousticModel:
    emb = _shape(state, "src_word_emb.weight", source, "am.")
    spk = _shape(state, "spk_tokenizer.weight", source, "am.")
    proj = _shape(state, "embed_projection1.weight", source, "am.")
    ffn = _shape(state, "encoder.encoders.0.feed_forward.w_1.weight", source, "am.")
    hidden = int(emb[1])
    cfg = AcousticConfig(
        n_vocab=int(emb[0]),
        n_speaker=int(spk[0]),
        hidden=hidden,
        style_dim=(int(proj[1]) - hidden - int(spk[1])) // 2,
        encoder_layers=_count(state, r"encoder\.encoders\.(\d+)\."),
        decoder_layers=_count(state, r"decoder\.encoders\.(\d+)\."),
        heads=int(model_cfg.get("encoder_n_heads", 8)),
        ffn=int(ffn[0]),
        ffn_kernel=int(ffn[2]),
        pitch_layers=_count(state, r"pitch_predictor\.conv\.(\d+)\."),
        energy_layers=_count(state, r"energy_predictor\.conv\.(\d+)\."),
        duration_layers=_count(state, r"duration_predictor\.conv\.(\d+)\."),
        variance_kernel=int(_shape(state, "duration_predictor.conv.0.0.weight", source, "am.")[2]),
        embed_kernel=int(_shape(state, "pitch_embed.0.weight", source, "am.")[2]),
        n_mels=int(_shape(state, "to_mel.weight", source, "am.")[0]),
    )
    if int(spk[1]) != hidden:
        raise EngineLoadError(f"checkpoint {source}: speaker embedding width {spk[1]} != hidden size {hidden}")
    if hidden % cfg.heads:
        raise EngineLoadError(f"{layout.CONFIG}: encoder_n_heads {cfg.heads} does not divide hidden size {hidden}")
    model = AcousticModel(cfg)
    _load_into(model, state, source, "am.")
    return model


def build_vocoder(state: dict[str, torch.Tensor], model_cfg: dict[str, Any], source: Path) -> Vocoder:
    try:
        state = fold_weight_norm(state)
    except KeyError as exc:
        raise EngineLoadError(f"checkpoint {source} lacks the key generator.{exc.args[0]}") from exc
    pre = _shape(state, "conv_pre.weight", source, "generator.")
    rates = tuple(int(r) for r in model_cfg.get("upsample_rates", (8, 8, 2, 2)))
    kernels = tuple(int(_shape(state, f"ups.{i}.weight", source, "generator.")[2]) for i in range(len(rates)))
    res_kernels = tuple(int(k) for k in model_cfg.get("resblock_kernel_sizes", (3, 7, 11)))
    dilations = tuple(tuple(int(d) for d in ds) for ds in model_cfg.get("resblock_dilation_sizes", [[1, 3, 5]] * 3))
    if str(model_cfg.get("resblock", "1")) != "1":
        raise EngineLoadError(f"{layout.CONFIG}: only HiFi-GAN resblock type 1 is supported")
    cfg = VocoderConfig(
        n_mels=int(pre[1]),
        initial_channels=int(pre[0]),
        upsample_rates=rates,
        upsample_kernels=kernels,
        resblock_kernels=res_kernels,
        resblock_dilations=dilations,
    )
    model = Vocoder(cfg)
    _load_into(model, state, source, "generator.")
    return model


def build_bert(state: dict[str, torch.Tensor], config_json: dict[str, Any], source: Path) -> BertModel:
    cfg = BertConfig.from_json(config_json)
    vocab = int(_shape(state, "embeddings.word_embeddings.weight", source, "module.bert.")[0])
    layers = _count(state, r"encoder\.layer\.(\d+)\.")
    if vocab != cfg.vocab_size or layers != cfg.num_hidden_layers:
        log.warning("style encoder shapes override config.json (vocab %d, layers %d)", vocab, layers)
        cfg = BertConfig(**{**cfg.__dict__, "vocab_size": vocab, "num_hidden_layers": layers})
    model = BertModel(cfg)
    _load_into(model, state, source, "module.bert.")
    return model


def _speaker_table(path: Path) -> dict[str, tuple[str, str, str]]:
    table: dict[str, tuple[str, str, str]] = {}
    if not path.is_file():
        return table
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            table[cells[0]] = (cells[1], cells[2], cells[3] if len(cells) > 3 else "")
    return table


def load_home(home: Path) -> LoadedHome:
    """Read and check a whole home; raises :class:`EngineLoadError` naming the first problem found."""
    home = Path(home).expanduser()
    if not home.is_dir():
        raise EngineLoadError(f"EmotiVoice home {home} is not a directory")
    am_path = layout.find_checkpoint(home, layout.AM_CKPT, "g_")
    if am_path is None:
        raise EngineLoadError(f"EmotiVoice home {home} is missing the file {layout.AM_CKPT}")
    style_path = layout.find_checkpoint(home, layout.STYLE_CKPT, "checkpoint_")
    if style_path is None:
        raise EngineLoadError(f"EmotiVoice home {home} is missing the file {layout.STYLE_CKPT}")
    config_json_path = _require(home, layout.BERT_CONFIG)
    vocab_path = _require(home, layout.BERT_VOCAB)
    tokenlist_path = _require(home, layout.TOKENLIST)
    speakers_path = _require(home, layout.SPEAKERS)
    lexicon_path = _require(home, layout.LEXICON)
    config_path = _require(home, layout.CONFIG)

    model_cfg = _yaml_model(config_path)
    try:
        config_json = json.loads(config_json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EngineLoadError(f"cannot parse {layout.BERT_CONFIG}: {exc}") from exc

    rel_am = am_path.relative_to(home)
    joint = _read_state(am_path, rel_am, "generator")
    am_state = {k[3:]: v for k, v in joint.items() if k.startswith("am.") and not k.startswith("am.alignment_module.")}
    gen_state = {k[10:]: v for k, v in joint.items() if k.startswith("generator.")}
    if not am_state:
        raise EngineLoadError(f"checkpoint {rel_am} has no am.* keys")
    if not gen_state:
        raise EngineLoadError(f"checkpoint {rel_am} has no generator.* keys")
    acoustic = build_acoustic(am_state, model_cfg, rel_am)
    vocoder = build_vocoder(gen_state, model_cfg, rel_am)
    del joint, am_state, gen_state

    rel_style = style_path.relative_to(home)
    raw_style = _read_state(style_path, rel_style, "model")
    style_state = {}
    for key, value in raw_style.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if key.startswith("bert.") and not key.endswith("position_ids"):
            style_state[key[len("bert."):]] = value
    bert = build_bert(style_state, config_json, rel_style)
    del raw_style, style_state

    tokens = _lines(tokenlist_path)
    if len(tokens) > acoustic.config.n_vocab:
        raise EngineLoadError(
            f"{layout.TOKENLIST} has {len(tokens)} tokens but the checkpoint embeds only {acoustic.config.n_vocab}"
        )
    speakers = _lines(speakers_path)
    if len(speakers) > acoustic.config.n_speaker:
        raise EngineLoadError(
            f"{layout.SPEAKERS} lists {len(speakers)} speakers but the checkpoint has only {acoustic.config.n_speaker}"
        )
    if bert.config.hidden_size != acoustic.config.style_dim:
        raise EngineLoadError(
            f"style encoder width {bert.config.hidden_size} does not match the acoustic model's {acoustic.config.style_dim}"
        )
    try:
        tokenizer = WordPieceTokenizer(read_vocab(vocab_path), lower_case=bool(config_json.get("do_lower_case", True)))
    except ValueError as exc:
        raise EngineLoadError(f"{layout.BERT_VOCAB}: {exc}") from exc

    vocabulary: list[str] = []
    for rel in layout.LABEL_FILES:
        if (home / rel).is_file():
            vocabulary.extend(_lines(home / rel))
        else:
            log.warning("EmotiVoice home lacks the label file %s (only used to pre-compute prompts)", rel)

    return LoadedHome(
        home=home,
        acoustic=acoustic,
        vocoder=vocoder,
        bert=bert,
        tokenizer=tokenizer,
        token_ids={token: index for index, token in enumerate(tokens)},
        speakers=speakers,
        lexicon=read_lexicon(lexicon_path),
        prompt_vocabulary=vocabulary,
        speaker_table=_speaker_table(home / layout.SPEAKER_TABLE),
    )
