"""The README's configuration table and the settings must not drift apart."""

from __future__ import annotations

from pathlib import Path

from function.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        env = {"port": "PORT", "sink": "K_SINK"}.get(name, f"EMOTIVOICE_{name.upper()}")
        assert f"`{env}`" in README, f"{env} missing from the README configuration table"


def test_readme_states_the_two_commands() -> None:
    assert "make serve" in README and "make test" in README
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "make test" in ci
