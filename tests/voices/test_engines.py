"""Custom voices against the engines, at the service layer: what the engine is asked to synthesise, the
weight-1.0 parity, EmotiVoice's index built ahead by ``emotivoice-fn voice-index`` (tiny random-weight home:
mechanics only, the audio means nothing), and blending once the EmotiVoice engine honours ``request.mix``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from function.engines.base import Engine, SynthesisRequest, VoiceMix
from function.engines.matching.match import Match
from function.errors import ServiceError
from function.service.custom_voices import CustomVoice, CustomVoices, owner_hash
from function.settings import Settings
from function.storage.local import LocalStorage
from tests.voices.conftest import clip


def voices_for(engine: Engine, tmp_path: Path, **settings: object) -> CustomVoices:
    async def getter() -> Engine:
        return engine

    storage = LocalStorage(tmp_path / "store", "t/")
    return CustomVoices(Settings(storage_dir=tmp_path / "store", **settings), storage, getter)  # type: ignore[arg-type]


def store_voice(voices: CustomVoices, engine: Engine, parts: tuple[tuple[str, float], ...]) -> str:
    """A voice record with a given mix, as creation would store it (made against this engine's index)."""
    encoder_version = voices.encoder_version() or "none"
    voice_id = "cv-" + owner_hash("sub:test")[:8] + "0" * 16
    record = CustomVoice(
        id=voice_id, name="Fixed", created_at=0, owner=owner_hash("sub:test"), engine=engine.name,
        engine_version=str(getattr(engine, "version", "unknown")), model_id=voices.model_id(engine),
        encoder_version=encoder_version, index_key=voices.current_key(engine, encoder_version), index_subset=False,
        matches=tuple(Match(v, 1.0, w) for v, w in parts), embedding=(0.0,) * 256, reference={})
    voices._storage.put(voices._record_key(voice_id), json.dumps(record.to_json()).encode(), "application/json", {})
    return voice_id


def pcm(engine: Engine, request: SynthesisRequest) -> np.ndarray:
    return np.concatenate([c.pcm for c in engine.synthesize(request)])


def test_espeak_speaks_the_heaviest_part_and_says_so(tmp_path: Path) -> None:
    from function.engines.espeak.engine import EspeakEngine

    engine = EspeakEngine()
    voices = voices_for(engine, tmp_path)
    voice_id = store_voice(voices, engine, (("en-us-m1", 0.6), ("zh-m1", 0.4)))
    request = SynthesisRequest(text="Hello there.", voice=voice_id.upper(), prompt="happy", format="mp3")
    resolved, voice = asyncio.run(voices.resolve(engine, request))
    # Weight-1.0 parity for an engine that cannot blend: the engine gets exactly the built-in request.
    assert resolved == dataclasses.replace(request, voice="en-us-m1", mix=VoiceMix((("en-us-m1", 0.6), ("zh-m1", 0.4))))
    assert voice.id == "en-us-m1" and "cannot blend" in voice.description and voice_id in voice.description
    # Rendered results key on the request asked for; the mix is part of a resolved request's identity.
    assert resolved.content_hash() != dataclasses.replace(resolved, mix=None).content_hash()


@pytest.fixture(scope="module")
def tiny_emotivoice(tiny_home: Path):  # type: ignore[no-untyped-def]
    from function.engines.emotivoice import load

    engine = load(Settings(home=tiny_home))
    yield engine
    engine.close()


def test_emotivoice_index_built_ahead_then_matching(tiny_home: Path, tiny_emotivoice: Engine, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No index: creating a voice is a clear 503; `emotivoice-fn voice-index --speakers 3` builds a subset
    index; a clip then matches among those speakers, and synthesis with the voice works."""
    from function.cli import main

    index_dir = tmp_path / "index"
    voices = voices_for(tiny_emotivoice, tmp_path, home=tiny_home, voice_index_dir=index_dir)
    reference = clip("en-us-f4", 1)
    with pytest.raises(ServiceError) as info:
        asyncio.run(voices.create("sub:a", "Before the index", data=reference))
    assert info.value.code == "voice_index_missing" and info.value.kind.http_status == 503

    monkeypatch.setenv("EMOTIVOICE_ENGINE", "emotivoice")
    monkeypatch.setenv("EMOTIVOICE_HOME", str(tiny_home))
    monkeypatch.setenv("EMOTIVOICE_VOICE_INDEX_DIR", str(index_dir))
    result = CliRunner().invoke(main, ["voice-index", "--speakers", "3"])
    assert result.exit_code == 0, result.output
    assert "3 voices (subset)" in result.output and len(list(index_dir.glob("voice-index-emotivoice-*.npz"))) == 1

    created = asyncio.run(voices.create("sub:a", "After the index", data=reference)).voice
    speakers = [v.id for v in tiny_emotivoice.voices()[:3]]
    assert created.engine == "emotivoice" and created.index_subset is True
    assert {m.voice for m in created.matches} <= set(speakers)
    assert sum(m.weight for m in created.matches) == pytest.approx(1.0)
    request = SynthesisRequest(text="你好。", voice=created.id)
    resolved, voice = asyncio.run(voices.resolve(tiny_emotivoice, request))
    assert resolved.mix == created.mix
    assert len(pcm(tiny_emotivoice, resolved)) > 0


def test_emotivoice_weight_one_parity_without_blending(tiny_emotivoice: Engine, tmp_path: Path) -> None:
    """Until the engine blends, it speaks the heaviest part: exactly that speaker's audio (deterministic)."""
    voices = voices_for(tiny_emotivoice, tmp_path)
    voice_id = store_voice(voices, tiny_emotivoice, (("92", 1.0),))
    request = SynthesisRequest(text="你好，世界。Hello.", voice=voice_id, prompt="开心")
    resolved, _ = asyncio.run(voices.resolve(tiny_emotivoice, request))
    builtin = dataclasses.replace(request, voice="92")
    if getattr(tiny_emotivoice, "supports_mix", False):
        assert resolved.voice == voice_id and resolved.mix == VoiceMix((("92", 1.0),))
    else:
        assert resolved == dataclasses.replace(builtin, mix=VoiceMix((("92", 1.0),)))
    assert np.array_equal(pcm(tiny_emotivoice, resolved), pcm(tiny_emotivoice, builtin))


def test_emotivoice_blends_speaker_embeddings(tiny_emotivoice: Engine, tmp_path: Path) -> None:
    """Blending through the engine's public API: weight 1.0 on one speaker is exactly that speaker; a
    two-speaker mix is deterministic and differs from both speakers."""
    if not getattr(tiny_emotivoice, "supports_mix", False):
        pytest.skip("the EmotiVoice engine does not honour request.mix yet (supports_mix is unset): speaker "
                    "blending is being added to function/engines/emotivoice by issue 13's work; this test runs "
                    "once it lands")
    text = "你好，世界。Hello."
    alone = pcm(tiny_emotivoice, SynthesisRequest(text=text, voice="8051"))
    one = pcm(tiny_emotivoice, SynthesisRequest(text=text, voice="cv-x", mix=VoiceMix((("8051", 1.0),))))
    assert np.array_equal(one, alone)
    mix = VoiceMix((("8051", 0.5), ("92", 0.5)))
    blend = pcm(tiny_emotivoice, SynthesisRequest(text=text, voice="cv-x", mix=mix))
    assert np.array_equal(blend, pcm(tiny_emotivoice, SynthesisRequest(text=text, voice="cv-x", mix=mix)))
    other = pcm(tiny_emotivoice, SynthesisRequest(text=text, voice="92"))
    for single in (alone, other):
        assert len(blend) != len(single) or not np.allclose(blend, single)

    voices = voices_for(tiny_emotivoice, tmp_path)
    voice_id = store_voice(voices, tiny_emotivoice, mix.parts)
    resolved, voice = asyncio.run(voices.resolve(tiny_emotivoice, SynthesisRequest(text=text, voice=voice_id)))
    assert resolved.mix == mix and voice.id == voice_id and "blend" in voice.description
    assert np.array_equal(pcm(tiny_emotivoice, resolved), blend)


def test_voice_made_for_another_model_is_rematched(tmp_path: Path, index_dir: Path) -> None:
    """A record made against another index (other weights) is matched again from its stored embedding."""
    from function.engines.espeak.engine import EspeakEngine

    engine = EspeakEngine()
    voices = voices_for(engine, tmp_path, voice_index_dir=index_dir)
    created = asyncio.run(voices.create("sub:b", "Mine", data=clip("en-us-m7", 1))).voice
    assert created.matches[0].voice == "en-us-m7"
    stale = dataclasses.replace(created, index_key="0" * 16, matches=(Match("zh-f2", 0.1, 1.0),))
    voices._storage.put(voices._record_key(created.id), json.dumps(stale.to_json()).encode(), "application/json", {})
    resolved, voice = asyncio.run(voices.resolve(engine, SynthesisRequest(text="Hi.", voice=created.id)))
    assert resolved.mix is not None and resolved.mix.heaviest == "en-us-m7" and voice.id == "en-us-m7"


def test_local_storage_keeps_and_deletes_the_clip(tmp_path: Path, index_dir: Path) -> None:
    """With local storage (one pod): a kept clip sits beside the record; deleting removes both, metadata too."""
    from function.engines.espeak.engine import EspeakEngine

    voices = voices_for(EspeakEngine(), tmp_path, voice_index_dir=index_dir)
    data = clip("zh-m3", 0, "FLAC")
    created = asyncio.run(voices.create("sub:c", "Kept", data=data, keep_reference=True)).voice
    files = sorted(p.name for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert files == sorted([f"{created.id}.json", f"{created.id}.json.meta.json", f"{created.id}.flac",
                            f"{created.id}.flac.meta.json"])
    assert Path(created.reference["uri"].removeprefix("file://")).read_bytes() == data
    assert [v.id for v in asyncio.run(voices.list("sub:c"))] == [created.id]
    asyncio.run(voices.delete("sub:c", created.id))
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
    with pytest.raises(ServiceError) as info:
        asyncio.run(voices.delete("sub:c", created.id))
    assert info.value.code == "voice_not_found"
