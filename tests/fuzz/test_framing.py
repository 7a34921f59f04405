"""Headers and body framing under fuzz, over raw sockets: oversized header blocks, header bytes outside
latin-1 (UTF-8, invalid UTF-8), a Content-Length the body never reaches, chunked bodies over the body
limit or never finished; then bodies that are not valid JSON and content types that are not JSON.

Why raw sockets: these are the requests an HTTP library refuses to produce (see ``rawhttp``). Why this
matters: the framing layer runs before any route, so a crash here bypasses every route's validation, and
a body that never arrives holds a connection and a slot until someone gives up. The documented answers:
413 ``request_too_large`` for a body over ``EMOTIVOICE_MAX_BODY_BYTES`` however it is framed (README
"Errors"), 415 ``unsupported_media_type`` for a body that is not ``application/json`` on the JSON routes,
and for everything else the suite's invariant, answered before the client's deadline. Requests that are
not HTTP at all (CR, LF or NUL inside a header) are not sent: uvicorn's parser answers those before the
application exists.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.invariant import Target, fuzz_settings, violation
from tests.fuzz.rawhttp import request_head, send_raw
from tests.fuzz.strategies import header_values, nested

LIMIT = 64 * 1024  # framing_target's max_body_bytes
BODY_TIMEOUT = 2.0  # framing_target's body_timeout_seconds
STALL_DEADLINE = BODY_TIMEOUT + 6  # a stalled body must be answered well before this

EVENT_HEADERS = [(b"ce-id", b"framing-1"), (b"ce-source", b"/tests/fuzz"),
                 (b"ce-type", b"dev.emotivoice.synthesis.requested"), (b"ce-specversion", b"1.0")]
# (method, path, extra headers, a valid body) of every route that takes a body, plus a GET.
ROUTES = {
    "speech": ("POST", "/v1/audio/speech", [],
               b'{"input": "Hello.", "voice": "alloy", "response_format": "wav"}'),
    "native": ("POST", "/v1/synthesize", [], b'{"text": "Hello.", "speaker": "zh-f2", "format": "wav"}'),
    "batches": ("POST", "/v1/batches", [],
                b'{"template": "{name}, hello!", "recipients": [{"id": "a", "name": "Ann"}], "format": "wav"}'),
    "event": ("POST", "/", EVENT_HEADERS, b'{"text": "Hello.", "format": "wav"}'),
    "models": ("GET", "/v1/models", [], b""),
}
POST_ROUTES = [name for name, route in ROUTES.items() if route[0] == "POST"]
JSON_ROUTES = ("speech", "native", "batches")


def head(target: Target, route: str, extra: list[tuple[bytes, bytes]], *, ctype: bytes | None = b"application/json",
         length: int | None = None, chunked: bool = False) -> bytes:
    method, path, headers, body = ROUTES[route]
    fields = list(headers)
    if ctype is not None and method == "POST":
        fields.append((b"content-type", ctype))
    if chunked:
        fields.append((b"transfer-encoding", b"chunked"))
    elif method == "POST":
        fields.append((b"content-length", str(len(body) if length is None else length).encode()))
    fields += extra
    return request_head(method, path, fields, f"{target.address[0]}:{target.address[1]}")


def chunks(payload: Iterator[bytes]) -> Iterator[bytes]:
    for part in payload:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"


HEADER_BLOCKS = {
    "one 1 MB header": [(b"x-fuzz", b"a" * (1024 * 1024))],
    "1000 headers of 1 KB": [(f"x-fuzz-{i}".encode(), b"b" * 1024) for i in range(1000)],
}


@pytest.mark.parametrize("shape", HEADER_BLOCKS)
@pytest.mark.parametrize("route", ["speech", "event", "models"])
def test_oversized_header_block(framing_target: Target, route: str, shape: str) -> None:
    """A megabyte of headers is refused with a documented 4xx (431 by design), not processed."""
    what = f"{ROUTES[route][0]} {ROUTES[route][1]} with {shape}"
    answer = send_raw(framing_target, head(framing_target, route, HEADER_BLOCKS[shape]), [ROUTES[route][3]],
                      what=what)
    if answer.status < 400:
        raise violation("megabyte header block accepted", f"{what}\n  -> {answer.status} {answer.excerpt(100)}")


HEADER_NAMES = (b"content-type", b"accept", b"authorization", b"prefer", b"ce-id", b"ce-type", b"ce-source",
                b"ce-specversion", b"ce-datacontenttype", b"user-agent", b"accept-encoding", b"accept-language",
                b"x-request-id", b"origin", b"cookie", b"if-none-match", b"range", b"x-forwarded-for", b"expect",
                b"x-fuzz")


@fuzz_settings(max_examples=150)
@given(route=st.sampled_from(tuple(ROUTES)),
       fields=st.lists(st.tuples(st.one_of(st.sampled_from(HEADER_NAMES),
                                           st.from_regex(rb"\A[a-z][a-z0-9-]{0,15}\Z")), header_values),
                       min_size=1, max_size=3))
def test_header_bytes(framing_target: Target, route: str, fields: list[tuple[bytes, bytes]]) -> None:
    """Any header (names and values; values with bytes outside latin-1 and invalid UTF-8) on a valid
    request: an answer by the invariant, never a crash in a middleware that decodes them."""
    method, path, _, body = ROUTES[route]
    ctype = None if any(name == b"content-type" for name, _ in fields) else b"application/json"
    what = f"{method} {path} with headers {fields!r}"[:800]
    send_raw(framing_target, head(framing_target, route, fields, ctype=ctype), [body], what=what)


NON_LATIN1_HEADERS = {
    "invalid UTF-8 in an unknown header": ("speech", [(b"x-fuzz", b"\xff\xfe")]),
    "UTF-8 in ce-source": ("event", [(b"ce-source", "/事件/源".encode())]),
    "emoji in Accept": ("models", [(b"accept", "€😀".encode())]),
    "latin-1 byte in a content-type parameter": ("native", [(b"content-type", b"application/json; charset=\xe9")]),
    "invalid UTF-8 content type": ("batches", [(b"content-type", b"application/\xff\xfejson")]),
}


@pytest.mark.parametrize("name", NON_LATIN1_HEADERS)
def test_non_latin1_header_bytes(framing_target: Target, name: str) -> None:
    """Header bytes outside ASCII that HTTP allows (obs-text): an answer, never a decoding crash."""
    route, fields = NON_LATIN1_HEADERS[name]
    method, path, _, body = ROUTES[route]
    ctype = None if any(n == b"content-type" for n, _ in fields) else b"application/json"
    send_raw(framing_target, head(framing_target, route, fields, ctype=ctype), [body], what=f"{method} {path}: {name}")


# (route, how the body stalls): every body-taking route with a Content-Length 10 bytes beyond what is sent,
# plus a Content-Length and no body at all, and chunked bodies whose terminating chunk never comes.
STALLS = [*((route, "10 bytes short") for route in POST_ROUTES), ("speech", "no body at all"),
          ("event", "chunked, never finished"), ("native", "chunked, never finished")]


def _stall(target: Target, route: str, kind: str) -> None:
    method, path, _, body = ROUTES[route]
    if kind.startswith("chunked"):
        request, sent = head(target, route, [], chunked=True), next(chunks(iter([body[:10]])))
    else:
        sent = body[:-10] if kind == "10 bytes short" else b""
        request = head(target, route, [], length=len(body))
    what = f"{method} {path}, {kind}: Content-Length {len(body)}, {len(sent)} bytes sent, connection left open"
    answer = send_raw(target, request, [sent], what=what, timeout=STALL_DEADLINE)
    if answer.status < 400:
        raise violation(f"stalled body -> {answer.status}", f"{what}\n  -> {answer.status} {answer.excerpt()}")


def test_stalled_bodies_are_answered(framing_target: Target) -> None:
    """A body that stops arriving (Content-Length never reached, chunked never terminated), the
    connection left open: answered with a 4xx (408 by design) within the body timeout, not held until
    the client gives up. The cases run at once: each waits out the server's body timeout, so together
    they cost one timeout instead of seven."""
    with ThreadPoolExecutor(len(STALLS)) as pool:
        futures = [pool.submit(_stall, framing_target, route, kind) for route, kind in STALLS]
    failures = [exc for exc in (f.exception() for f in futures) if exc is not None]
    if failures:
        first = failures[0]
        first.args = ("\n".join(str(exc) for exc in failures),)
        raise first


def _filler(total: int, first: bytes) -> Iterator[bytes]:
    yield first
    sent = len(first)
    while sent < total:
        part = b" " * min(8192, total - sent)
        sent += len(part)
        yield part


@pytest.mark.parametrize("total", [2 * LIMIT, 16 * LIMIT], ids=["2x-limit", "16x-limit"])
@pytest.mark.parametrize("route", POST_ROUTES)
def test_chunked_body_over_limit(framing_target: Target, route: str, total: int) -> None:
    """A chunked body (no Content-Length to check up front) larger than the limit: 413
    ``request_too_large``, the documented answer, not 400 or 500."""
    body = ROUTES[route][3]
    parts = itertools.chain(chunks(_filler(total, body[:-1])), [b"0\r\n\r\n"])
    what = f"{ROUTES[route][0]} {ROUTES[route][1]}, chunked, {total} bytes (limit {LIMIT})"
    answer = send_raw(framing_target, head(framing_target, route, [], chunked=True),
                      parts, what=what)
    code = answer.json()["error"]["code"] if answer.status >= 400 else None
    if (answer.status, code) != (413, "request_too_large"):
        raise violation(f"chunked oversize body -> {answer.status} {code}", f"{what}\n  -> {answer.excerpt()}")


@pytest.mark.parametrize("route", POST_ROUTES)
def test_content_length_over_limit(framing_target: Target, route: str) -> None:
    """A declared Content-Length over the limit: 413 ``request_too_large`` before the body is read."""
    what = f"{ROUTES[route][0]} {ROUTES[route][1]}, Content-Length {LIMIT + 1}"
    answer = send_raw(framing_target, head(framing_target, route, [], length=LIMIT + 1),
                      _filler(LIMIT + 1, b"{"), what=what)
    code = answer.json()["error"]["code"]
    assert (answer.status, code) == (413, "request_too_large"), f"{what} -> {answer.excerpt()}"


@st.composite
def broken_json(draw: st.DrawFn, valid: bytes) -> bytes:
    """A valid body mutated (cut, byte inserted or replaced), or something else altogether."""
    kind = draw(st.sampled_from(("cut", "insert", "replace", "bytes", "encoding", "bom", "duplicate")))
    if kind == "cut":
        return valid[:draw(st.integers(0, len(valid) - 1))]
    if kind in ("insert", "replace"):
        at = draw(st.integers(0, len(valid) - 1))
        byte = bytes([draw(st.integers(0, 255))])
        return valid[:at] + byte + valid[at + (kind == "replace"):]
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "encoding":
        return valid.decode().encode(draw(st.sampled_from(("utf-16", "utf-16-be", "utf-32", "latin-1"))))
    if kind == "bom":
        return b"\xef\xbb\xbf" + valid
    return valid[:-1] + b", " + valid[1:-1] + b"}"


@fuzz_settings(max_examples=150)
@given(data=st.data(), route=st.sampled_from(JSON_ROUTES))
def test_invalid_json_bodies(framing_target: Target, route: str, data: st.DataObject) -> None:
    """Bodies that are not the JSON asked for (cut, corrupted, other encodings, random bytes): 400
    ``invalid_json`` when it is not JSON at all; when the damage left valid JSON, the schema's 4xx or a
    success."""
    _, path, _, valid = ROUTES[route]
    body = data.draw(broken_json(valid), label="body")
    send_json(framing_target, path, body, f"POST {path} {body[:300]!r}")


def send_json(target: Target, path: str, body: bytes, what: str) -> None:
    """POST ``body`` as application/json; if Python's own parser (the server's) cannot read it, the
    answer must be the documented one for malformed JSON: 400 ``invalid_json`` (README "Errors"). An
    empty body may instead count as no body: 422 ``missing_field``."""
    answer = target.request("POST", path, content=body, headers={"content-type": "application/json"}, what=what)
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        code = answer.json()["error"]["code"] if answer.status >= 400 else None
        if (answer.status, code) != (400, "invalid_json") and not (body == b"" and code == "missing_field"):
            raise violation(f"unparseable body -> {answer.status} {code}", f"{what}\n  -> {answer.excerpt()}") from None


EXTREME_BODIES = {
    "10,000 nested lists": nested(10_000),
    "10,000 nested objects": nested(10_000, "dict"),
    "5,000-digit speed": b'{"input": "hi", "voice": "alloy", "speed": ' + b"1" * 5000 + b"}",
    "5,000-digit text": b'{"input": ' + b"1" * 5000 + b', "voice": "alloy"}',
    "invalid UTF-8 in a string": b'{"input": "caf\xe9 \xff", "voice": "alloy"}',
    "lone surrogate escape in a key": b'{"\\ud800": 1, "input": "hi", "voice": "alloy"}',
    "NUL escape in voice": b'{"input": "hi", "voice": "al\\u0000loy"}',
    "60 KB of whitespace": b" " * 60_000 + b'{"input": "hi", "voice": "alloy"}',
}


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("name", EXTREME_BODIES)
def test_extreme_json(framing_target: Target, route: str, name: str) -> None:
    """Parser edge cases: recursion depth, number-length limits, invalid UTF-8, escapes: ``invalid_json``
    for what Python's parser refuses, the schema's 4xx or a success for the rest, never a crash."""
    path = ROUTES[route][1]
    send_json(framing_target, path, EXTREME_BODIES[name], f"POST {path} {name}")


@fuzz_settings(max_examples=60)
@given(route=st.sampled_from(JSON_ROUTES),
       ctype=st.one_of(st.sampled_from(("text/plain", "application/xml", "application/x-www-form-urlencoded",
                                        "multipart/form-data; boundary=x", "application/json-patch+json",
                                        "application/jsonx", "json", "application/json;", "application/json ;",
                                        "APPLICATION/JSON; charset=UTF-8", "application/json; charset=utf-16",
                                        "application/cloudevents+json", "*/*", "")),
                       st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(str.strip)))
def test_content_types(framing_target: Target, route: str, ctype: str) -> None:
    """A valid JSON body under any content type: a media type other than ``application/json`` is 415
    ``unsupported_media_type``; ``application/json`` with any parameters or case is served."""
    _, path, _, body = ROUTES[route]
    what = f"POST {path} content-type {ctype!r}"
    answer = framing_target.request("POST", path, content=body, headers={"content-type": ctype}, what=what)
    media = ctype.split(";")[0].strip().lower()
    if media != "application/json":
        code = answer.json()["error"]["code"] if answer.status >= 400 else None
        if (answer.status, code) != (415, "unsupported_media_type"):
            raise violation(f"non-JSON content type -> {answer.status} {code}", f"{what}\n  -> {answer.excerpt()}")


def test_json_error_bodies_are_json(framing_target: Target) -> None:
    """Sanity check of the judge itself: a known-bad request is refused with the documented body, so the
    invariant's parsing and field checks run on real answers (an invariant that never fires is no test)."""
    answer = framing_target.request("POST", "/v1/audio/speech", content=b"{",
                                    headers={"content-type": "application/json"})
    assert answer.status == 400 and json.loads(answer.body)["error"]["code"] == "invalid_json"


KNOWN_PATHS = ("/", "/v1/audio/speech", "/v1/synthesize", "/v1/batches", "/v1/batches/x", "/v1/models",
               "/v1/audio/voices", "/health/liveness", "/health/readiness", "/metrics", "/openapi.json", "/docs",
               "/redoc", "/ui", "/ui/", "/ui/index.html", "/ui/app.js", "/ui/config.json", "/ui/favicon.svg")
path_segments = st.one_of(
    st.sampled_from(("..", ".", "", "%2e%2e", "%00", "%ff", "%", "%zz", "a" * 300, "ui", "v1", "index.html",
                     "x?y=1", "x#y", "..%2f..%2fetc", "%c0%ae", "~", "*", ";a=b")),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#% "), max_size=12),
    st.text(max_size=6).map(lambda s: "".join(f"%{b:02X}" for b in s.encode("utf-8", "surrogatepass"))),
)


@fuzz_settings(max_examples=100)
@given(method=st.sampled_from(("GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO")),
       base=st.sampled_from(KNOWN_PATHS), extra=st.lists(path_segments, max_size=3),
       query=st.one_of(st.just(""), st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                                          exclude_characters="#"), max_size=30)),
       fields=st.lists(st.tuples(st.sampled_from((b"accept-encoding", b"if-none-match", b"accept", b"range",
                                                  b"if-modified-since")), header_values), max_size=2))
def test_any_method_and_path(framing_target: Target, method: str, base: str, extra: list[str], query: str,
                             fields: list[tuple[bytes, bytes]]) -> None:
    """Any method on any path (listed routes, ``/ui`` files, traversal attempts, percent-encoding that
    decodes to nothing valid, a 100 KB path), with caching and encoding headers: 404 / 405 with the JSON
    error body (or the route's own answer), never a crash, never a file from outside the package."""
    path = base.rstrip("/") + "".join("/" + s for s in extra) if extra else base
    target = path + (f"?{query}" if query else "")
    what = f"{method} {target[:300]} {fields!r}"[:600]
    body = b'{"input": "Hi.", "voice": "alloy"}' if method in ("POST", "PUT", "PATCH") else b""
    headers = [*fields, (b"content-length", str(len(body)).encode())] if body else list(fields)
    if body:
        headers.append((b"content-type", b"application/json"))
    answer = send_raw(framing_target, request_head(method, target, headers, "127.0.0.1"), [body], what=what)
    if b"[build-system]" in answer.body:
        raise violation("file outside the package served", f"{what}\n  -> {answer.status} {answer.excerpt()}")


ODD_REQUESTS = {
    "100 KB path": ("GET", "/" + "a" * 100_000),
    "traversal out of /ui": ("GET", "/ui/../../pyproject.toml?v=1"),
    "encoded traversal out of /ui": ("GET", "/ui/%2e%2e/%2e%2e/pyproject.toml"),
    "absolute-form target": ("GET", "http://127.0.0.1/v1/models"),
    "asterisk-form target": ("OPTIONS", "*"),
}


@pytest.mark.parametrize("name", ODD_REQUESTS)
def test_odd_request_targets(framing_target: Target, name: str) -> None:
    """Request targets at the edge of HTTP: a path longer than the parser's limit (RFC 9112 suggests 414),
    traversal out of the static ``/ui`` files, absolute- and asterisk-form targets."""
    method, target = ODD_REQUESTS[name]
    answer = send_raw(framing_target, request_head(method, target, [], "127.0.0.1"), what=f"{method} {name}")
    if b"[build-system]" in answer.body:
        raise violation("file outside the package served", f"{method} {name}\n  -> {answer.excerpt()}")
