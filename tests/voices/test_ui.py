"""The playground's upload button: a recording becomes a custom voice, listed, marked and selected.

Drives Debian's chromium like tests/ui (skips with the reason where chromium or Playwright is missing)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_server
from tests.ui.conftest import UiPage, browser, ui_page  # noqa: F401 - fixtures used by name
from tests.ui.test_playground import message, open_ui, wait_js
from tests.voices.conftest import clip


def test_upload_button_creates_and_selects_a_custom_voice(ui_page: UiPage, index_dir: Path,  # noqa: F811
                                                          tmp_path: Path) -> None:
    recording = tmp_path / "me.wav"
    recording.write_bytes(clip("en-us-m1", 1))
    with run_server(engine="espeak", voice_index_dir=index_dir) as srv:
        page = open_ui(ui_page, srv)
        page.click("#custom-voice summary")
        page.set_input_files("#custom-voice-file", str(recording))
        page.fill("#custom-voice-name", "Page voice")
        page.click("#custom-voice-button")
        text = message(page, "custom-voice-message")
        assert "Created “Page voice” (cv-" in text and "spoken as en-us-m1" in text, text
        wait_js(page, "document.getElementById('voice-selected').dataset.voice.startsWith('cv-')")
        assert page.locator("#voice-list .option .alias", has_text="custom").count() >= 1
        assert ui_page.problems.all() == []
