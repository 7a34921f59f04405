from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from function.cli import main
from tests.audio_check import decode


@pytest.mark.parametrize("command", [[], ["serve"], ["say"], ["voices"]])
def test_help_everywhere(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_say_writes_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOTIVOICE_ENGINE", "espeak")
    out = tmp_path / "x.mp3"
    result = CliRunner().invoke(main, ["say", "你好，hello!", "--voice", "nova", "--emotion", "开心", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "emotion happy" in result.output
    assert decode(out.read_bytes(), "mp3").rms > 0.01


def test_say_rejects_bad_voice_and_extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOTIVOICE_ENGINE", "espeak")
    bad_voice = CliRunner().invoke(main, ["say", "hi", "--voice", "nobody", "-o", str(tmp_path / "a.wav")])
    assert bad_voice.exit_code != 0 and "Unknown voice" in bad_voice.output
    bad_ext = CliRunner().invoke(main, ["say", "hi", "-o", str(tmp_path / "a.xyz")])
    assert bad_ext.exit_code != 0 and "unsupported extension" in bad_ext.output


def test_voices_lists_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOTIVOICE_ENGINE", "espeak")
    result = CliRunner().invoke(main, ["voices", "--json"])
    assert result.exit_code == 0 and '"alloy"' in result.output
