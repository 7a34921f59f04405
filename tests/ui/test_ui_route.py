"""The /ui router over plain HTTP (no browser needed): what it serves, its headers, and its switch."""

from __future__ import annotations

import gzip
import re

import httpx

from tests.conftest import RunningServer, run_server


def test_assets_have_their_types_hash_links_and_cache_rules(espeak_server: RunningServer) -> None:
    with espeak_server.client() as http:
        page = http.get("/ui/")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-cache"
        links = dict(re.findall(r'(app\.js|style\.css|favicon\.svg)\?v=([0-9a-f]{12})', page.text))
        assert set(links) == {"app.js", "style.css", "favicon.svg"}
        for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css"), ("favicon.svg", "image/svg+xml")):
            current = http.get(f"/ui/{name}?v={links[name]}")
            assert current.status_code == 200 and current.headers["content-type"].startswith(ctype)
            assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
            stale = http.get(f"/ui/{name}?v=000000000000")  # an old page's link: revalidate, never pin
            assert stale.headers["cache-control"] == "no-cache"
            again = http.get(f"/ui/{name}", headers={"if-none-match": current.headers["etag"]})
            assert again.status_code == 304 and again.content == b""
        plain = httpx.get(f"{espeak_server.url}/ui/app.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        with httpx.stream("GET", f"{espeak_server.url}/ui/app.js", headers={"accept-encoding": "gzip"}) as packed:
            assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
            compressed = b"".join(packed.iter_raw())
        assert gzip.decompress(compressed) == plain.content and len(compressed) < len(plain.content) / 2
        assert http.get("/ui/%2e%2e%2fsettings.py").status_code == 404
        assert http.get("/ui/index.html").status_code == 404  # only through /ui/, with its CSP


def test_config_tells_the_page_this_deployments_limits(espeak_server: RunningServer) -> None:
    config = httpx.get(f"{espeak_server.url}/ui/config.json").json()
    assert config["max_input_chars"] == espeak_server.settings.max_input_chars
    assert config["auth"] == "none" and config["engine"] == "espeak"
    assert [e["id"] for e in config["emotions"]][:3] == ["neutral", "angry", "happy"]
    assert config["emotions"][2]["zh"] == "开心"
    assert config["batch"]["storage"] == "local" and config["batch"]["browser_links"] is False
    assert {"wav", "pcm", "mp3"} <= set(config["formats"])


def test_ui_is_open_under_jwt_auth_but_the_api_is_not() -> None:
    with run_server(engine="espeak", auth="jwt", jwt_secret="route-test-secret-0123456789abcdef") as srv:
        assert httpx.get(f"{srv.url}/ui/").status_code == 200
        assert httpx.get(f"{srv.url}/ui/config.json").json()["auth"] == "jwt"
        assert httpx.get(f"{srv.url}/v1/audio/voices").status_code == 401


def test_ui_switched_off() -> None:
    with run_server(engine="espeak", ui=False, wait_ready=False) as srv:
        for path in ("/ui", "/ui/", "/ui/config.json", "/ui/app.js"):
            r = httpx.get(f"{srv.url}{path}")
            assert r.status_code == 404, path
            assert r.json()["error"]["code"] == "not_found"
