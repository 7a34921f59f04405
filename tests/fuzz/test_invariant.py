"""The judge itself: ``check_answer`` rejects every kind of answer the invariant forbids.

Why: a fuzz suite whose check cannot fail passes on any server. These cases are fabricated answers, no
server involved, one per rule, so a loosened rule shows up here even while the server happens to obey it.
"""

from __future__ import annotations

import json
import logging
import sys

import pytest

from tests.fuzz.invariant import Answer, Violation, check_answer

JSON = {"content-type": "application/json"}


def error(code: str = "invalid_json", message: str = "bad", param: str | None = None, type_: str = "x") -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "param": param, "type": type_}}).encode()


GOOD = [
    ("200 audio", Answer(200, {"content-type": "audio/wav"}, b"RIFF")),
    ("400 documented", Answer(400, JSON, error())),
    ("422 with param", Answer(422, JSON, error("invalid_speed", param="speed"))),
    ("503 with Retry-After", Answer(503, {**JSON, "retry-after": "1"}, error("overloaded"))),
    ("429 with HTTP-date Retry-After", Answer(429, {**JSON, "retry-after": "Wed, 02 Dec 2026 01:00:00 GMT"}, error())),
    ("401 with challenge", Answer(401, {**JSON, "www-authenticate": 'Bearer realm="x"'}, error("missing_token"))),
    ("307 with Location", Answer(307, {"location": "/v1/models"}, b"")),
    ("304", Answer(304, {}, b"")),
    ("HEAD 404", Answer(404, JSON, b"", to_head=True)),
]
BAD = [
    ("500 documented body", Answer(500, JSON, error("internal_error")), "500"),
    ("502", Answer(502, {"content-type": "text/plain"}, b"Bad Gateway"), "502"),
    ("400 plain text", Answer(400, {"content-type": "text/plain"}, b"Invalid HTTP request received."), "non-JSON"),
    ("400 not JSON", Answer(400, JSON, b"{"), "unparseable"),
    ("400 without error", Answer(400, JSON, b'{"detail": "x"}'), "without 'error'"),
    ("400 error not an object", Answer(400, JSON, b'{"error": "x"}'), "without 'error'"),
    ("400 missing param", Answer(400, JSON, b'{"error": {"code": "x", "message": "m", "type": "t"}}'), "param"),
    ("400 numeric code", Answer(400, JSON, b'{"error": {"code": 1, "message": "m", "param": null, "type": "t"}}'),
     "code"),
    ("400 empty code", Answer(400, JSON, error(code="")), "empty error code"),
    ("400 echoing 100 KB", Answer(400, JSON, error(message="v" * 100_000)), "message of"),
    ("503 without Retry-After", Answer(503, JSON, error("overloaded")), "Retry-After"),
    ("429 with junk Retry-After", Answer(429, {**JSON, "retry-after": "soon"}, error()), "Retry-After"),
    ("401 without challenge", Answer(401, JSON, error("missing_token")), "WWW-Authenticate"),
    ("302 without Location", Answer(302, {}, b""), "302"),
]


@pytest.mark.parametrize(("name", "answer"), GOOD, ids=[g[0] for g in GOOD])
def test_accepts(name: str, answer: Answer) -> None:
    check_answer(answer, name)


@pytest.mark.parametrize(("name", "answer", "symptom"), BAD, ids=[b[0] for b in BAD])
def test_rejects(name: str, answer: Answer, symptom: str) -> None:
    with pytest.raises(Violation, match=symptom):
        check_answer(answer, name)


def test_a_2xx_during_a_server_crash_is_a_violation() -> None:
    """A stream cut after its 200: the status was fine, the server's log says otherwise."""
    try:
        raise ValueError("encoder exploded")
    except ValueError:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application",
                                   None, sys.exc_info())
    with pytest.raises(Violation, match="after server crash ValueError"):
        check_answer(Answer(200, {"content-type": "audio/mpeg"}, b"ID3"), "stream", [record])


def test_violations_are_told_apart_by_symptom() -> None:
    """Distinct symptoms get distinct exception types (so Hypothesis reports each), equal ones the same."""
    caught = []
    server_error = Answer(500, JSON, error("internal_error"))
    for answer in (server_error, Answer(400, {}, b"x"), server_error):
        with pytest.raises(Violation) as info:
            check_answer(answer, "x")
        caught.append(type(info.value))
    assert caught[0] is caught[2] and caught[0] is not caught[1]
