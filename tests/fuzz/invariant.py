"""The one invariant of the fuzz suite, the client that checks it on every request, and the case counter.

Why one module: every fuzz test must judge answers by the same rule, or a test that is lenient by
accident hides the next bug. The rule (README "Errors", issue 14 Deliver 7): for every input the answer
is a 2xx (or a redirect with a Location, or a 304), or a 4xx / 503 with the documented JSON error body,
whose message does not echo the input back; 503 and 429 carry ``Retry-After``; 401 carries
``WWW-Authenticate``; never another 5xx or 3xx, never no answer. "No answer" includes a
hang: every request runs under a client deadline, and running past it is a failure, not a skip.

Violations are raised as :class:`Violation` subclasses named after the symptom (status and, when the
in-process server logged one, the exception type it hit). Hypothesis tells bugs apart by exception type
and raise site, so with one class per symptom a single test run reports every distinct failure it found,
each shrunk to its own minimal input, instead of only the first.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx
from hypothesis import HealthCheck, settings

from tests.audio_check import decode
from tests.conftest import RunningServer, run_server

# Longest any single request may take before it counts as a hang. Above the fuzz servers' queue timeout
# (10 s) plus the slowest legitimate synthesis in the suite (4096 characters, a few seconds on 2 cores).
CLIENT_TIMEOUT = 30.0
# How long a sequential server may take to free a finished request's slot before it counts as leaked.
IDLE_GRACE = 5.0
# Redirects (with a Location) are answers too: a trailing slash, /ui -> /ui/. 304 answers a revalidation.
REDIRECTS = (301, 302, 303, 307, 308)
# An error message is for humans and names identifiers, cut short (``function.errors.shown``); one longer
# than this echoes the input back (issue 14: a 100 KB voice name came back whole).
MAX_MESSAGE_CHARS = 2000
# The documented error body's fields and their types (README "Errors"; ``function.errors.error_body``).
ERROR_FIELDS: dict[str, tuple[type, ...]] = {"code": (str,), "message": (str,), "param": (str, type(None)),
                                            "type": (str,)}

# Cases sent per test function (all its parameters together), printed by tests/fuzz/conftest.py's terminal summary.
CASES: Counter[str] = Counter()
# Error codes answered, printed with the cases (flagging codes the README never mentions).
CODES_SEEN: Counter[str] = Counter()


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings of every fuzz test: reproducible (derandomized, no example database, so CI and
    a laptop generate the same inputs), no per-example deadline (real synthesis varies with machine load;
    hangs are caught by the client deadline instead), and a small example count that keeps the suite
    within CI's budget. Health checks about slow or large generation are off: a real server answering is
    what makes these tests slow, and huge inputs are the point."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example])


def count_case() -> None:
    """Count one generated case for the test that is running (pytest names it in PYTEST_CURRENT_TEST)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").rsplit(" (", 1)[0].split("[", 1)[0]
    CASES[test] += 1


class Violation(AssertionError):
    """An answer that breaks the invariant; see :func:`violation` for why there are subclasses."""


_VIOLATION_TYPES: dict[str, type[Violation]] = {}


def violation(symptom: str, message: str) -> Violation:
    """A Violation whose class is unique to ``symptom`` (e.g. ``500 UnicodeEncodeError``), so Hypothesis
    reports and shrinks each distinct failure separately."""
    cls = _VIOLATION_TYPES.get(symptom)
    if cls is None:
        name = "Violation_" + (re.sub(r"\W+", "_", symptom).strip("_")[:80] or "unknown")
        cls = _VIOLATION_TYPES.setdefault(symptom, type(name, (Violation,), {"__module__": __name__}))
    return cls(f"[{symptom}] {message}")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as the wire carried it: status, headers (lower-case names; repeats joined), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    to_head: bool = False  # the answer to a HEAD request: headers only, by definition

    def json(self) -> Any:
        return json.loads(self.body)

    def excerpt(self, limit: int = 300) -> str:
        text = self.body[:limit].decode("utf-8", "replace")
        return text + ("…" if len(self.body) > limit else "")


class ServerLog(logging.Handler):
    """ERROR records of the in-process server (tracebacks of unhandled exceptions), so a violation says
    what the server hit, and violations are told apart by the server's exception type. The server runs
    in this process (tests/conftest.py ``run_server``), so its records reach a handler here."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._records: list[logging.LogRecord] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self._records.append(record)

    def install(self) -> None:
        """Attach to the root logger (our code's records) and uvicorn's (its "Exception in ASGI
        application", which does not propagate). Call after each server start: uvicorn reconfigures its
        loggers, dropping handlers, whenever a server is configured."""
        for name in ("", "uvicorn.error", "uvicorn"):
            logger = logging.getLogger(name)
            if self not in logger.handlers:
                logger.addHandler(self)

    def uninstall(self) -> None:
        for name in ("", "uvicorn.error", "uvicorn"):
            logging.getLogger(name).removeHandler(self)

    def mark(self) -> int:
        with self._guard:
            return len(self._records)

    def since(self, mark: int) -> list[logging.LogRecord]:
        with self._guard:
            return self._records[mark:]


def crash_of(records: Iterable[logging.LogRecord]) -> tuple[str, str] | None:
    """(exception type name, traceback excerpt) of the first unhandled exception among ``records``."""
    for record in records:
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            frames = traceback.extract_tb(tb)
            ours = [f for f in frames if "/function/" in f.filename] or frames
            where = "; ".join(f"{f.filename.split('/work/main/')[-1]}:{f.lineno} {f.name}" for f in ours[-3:])
            return exc_type.__name__, f"{exc_type.__name__}: {str(exc)[:300]} (at {where})"
    return None


def _retry_after_ok(value: str | None) -> bool:
    if value is None:
        return False
    if value.strip().isdigit():
        return True
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return True


def check_answer(answer: Answer, what: str, records: Sequence[logging.LogRecord] = ()) -> None:
    """Raise a :class:`Violation` unless ``answer`` obeys the invariant (see the module docstring).
    ``records``: what the server logged while answering; an unhandled exception there is reported, and a
    2xx during which the server crashed (a stream cut after its status line) is a violation too."""
    crash = crash_of(records)
    detail = f"{what}\n  -> {answer.status} {answer.headers.get('content-type', '')} {answer.excerpt()!r}"
    if crash:
        detail += f"\n  server logged: {crash[1]}"
    status = answer.status
    if 200 <= status < 300 or status == 304 or (status in REDIRECTS and answer.headers.get("location")):
        if crash:
            raise violation(f"{status} after server crash {crash[0]}", detail)
        return
    if not (400 <= status < 500 or status == 503):
        raise violation(f"{status} {crash[0] if crash else _code_of(answer)}", detail)
    ctype = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise violation(f"{status} non-JSON error body", detail)
    if answer.to_head:
        return
    try:
        body = answer.json()
    except ValueError:
        raise violation(f"{status} unparseable JSON error body", detail) from None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise violation(f"{status} error body without 'error' object", detail)
    for name, types in ERROR_FIELDS.items():
        if name not in error or not isinstance(error[name], types):
            raise violation(f"{status} error body field {name!r} missing or mistyped", detail)
    if not error["code"]:
        raise violation(f"{status} empty error code", detail)
    if len(error["message"]) > MAX_MESSAGE_CHARS:
        raise violation(f"{status} {error['code']} message of {len(error['message'])} characters", detail)
    if status in (429, 503) and not _retry_after_ok(answer.headers.get("retry-after")):
        raise violation(f"{status} without Retry-After", detail)
    if status == 401 and not answer.headers.get("www-authenticate", "").lower().startswith("bearer"):
        raise violation("401 without WWW-Authenticate: Bearer", detail)


def _code_of(answer: Answer) -> str:
    try:
        return str(answer.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no error code"


class Target:
    """A server under fuzz: sends one request per call on a fresh connection (so no answer depends on an
    earlier case's connection state), judges every answer, and checks the server after it.

    ``sequential``: nothing but this suite's one-at-a-time requests runs on the server (no background
    batches), so after each answer no synthesis may still hold a slot (``emotivoice_in_flight_requests``
    back to 0, README "API" metrics) and an ``overloaded`` / ``queue_timeout`` 503 can only mean capacity
    leaked earlier. A case that leaves the server leaking or unhealthy is reported, and the server is
    restarted before the next case, so one leak is reported once, at the input that caused it, instead of
    failing every later case of the session with 503s."""

    def __init__(self, log: ServerLog, description: str, *, sequential: bool = True, token: str | None = None,
                 **overrides: Any) -> None:
        overrides.setdefault("storage_dir", Path(tempfile.mkdtemp(prefix="emotivoice-fuzz-storage-")))
        self.log, self.description, self.sequential, self.token = log, description, sequential, token
        self._overrides = overrides
        self._stack = ExitStack()
        self.poisoned = False
        # One client for cases, with no connection reuse (each case on a fresh connection), and one for
        # the checks after each case. Built once: an httpx client costs tens of milliseconds to create.
        self._cases = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), follow_redirects=False)
        self._probe = httpx.Client(timeout=10)
        self.server = self._start()

    def _start(self) -> RunningServer:
        server = self._stack.enter_context(run_server(engine="espeak", **self._overrides))
        self.log.install()
        return server

    def restart(self) -> None:
        """A fresh server (same settings and storage). The old one is stopped in the background: with
        leaked slots its shutdown may wait for work that will never finish."""
        old, self._stack = self._stack, ExitStack()
        threading.Thread(target=old.close, daemon=True).start()
        self.server = self._start()
        self.poisoned = False

    def close(self) -> None:
        self._stack.close()
        self._cases.close()
        self._probe.close()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def storage_dir(self) -> Path:
        return Path(self._overrides["storage_dir"])

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def begin(self) -> int:
        """Start a case: count it, restart the server if the last case broke it; returns a log mark."""
        count_case()
        if self.poisoned:
            self.restart()
        return self.log.mark()

    def request(self, method: str, path: str, *, content: bytes | None = None,
                headers: Mapping[str, str | bytes] | list[tuple[bytes, bytes]] | None = None,
                params: Mapping[str, Any] | None = None, what: str = "", timeout: float = CLIENT_TIMEOUT) -> Answer:
        """Send one request; the whole answer (body included) must arrive within ``timeout`` seconds, and
        it is judged by the invariant."""
        mark = self.begin()
        what = what or f"{method} {path}"
        deadline = time.monotonic() + timeout
        try:
            with self._cases.stream(method, self.url + path, content=content, headers=headers, params=params,
                                    timeout=timeout) as response:
                chunks = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the answer did not finish in time")
                answer = Answer(response.status_code,
                                {k.lower(): ", ".join(response.headers.get_list(k)) for k in response.headers},
                                b"".join(chunks))
        except httpx.TimeoutException:
            self.fail("hang", f"{what}\n  -> no complete answer within {timeout:.0f} s", mark)
        except httpx.HTTPError as exc:
            self.fail(f"no answer {type(exc).__name__}", f"{what}\n  -> {type(exc).__name__}: {exc}", mark)
        self.judge(answer, what, mark)
        return answer

    def fail(self, symptom: str, message: str, mark: int) -> NoReturn:
        """Raise a violation for a case that got no answer, after checking what it did to the server."""
        raise violation(symptom, message + _logged(self.log.since(mark)) + self.after_case(message))

    def judge(self, answer: Answer, what: str, mark: int) -> None:
        """The invariant on ``answer``, then the server's state after it."""
        if answer.status >= 400 and not answer.to_head:
            CODES_SEEN[_code_of(answer)] += 1
        try:
            check_answer(answer, what, self.log.since(mark))
            if self.sequential and answer.status == 503 and _code_of(answer) in ("overloaded", "queue_timeout"):
                raise violation("overloaded while idle", f"{what}\n  -> 503 {answer.excerpt()}\n  (nothing else runs "
                                "on this server: capacity leaked earlier)")
        except Violation as exc:
            note = self.after_case(what)
            if note:
                exc.args = (exc.args[0] + note,)
            raise
        note = self.after_case(what)
        if note:
            symptom = "unhealthy afterwards" if "unhealthy" in note else f"slot leaked after {answer.status}"
            raise violation(symptom, f"{what}\n  -> {answer.status} {answer.excerpt(150)}{note}")

    def after_case(self, what: str) -> str:
        """'' when the server is healthy (and, if sequential, idle) after a case; else a note saying what
        is wrong, and the server is marked for a restart."""
        for path in ("/health/liveness", "/health/readiness"):
            try:
                r = self._probe.get(self.url + path)
            except httpx.HTTPError as exc:
                self.poisoned = True
                return f"\n  and then the server is unhealthy: {path} gave no answer ({exc})"
            if r.status_code != 200:
                self.poisoned = True
                return f"\n  and then the server is unhealthy: {path} -> {r.status_code} {r.text[:200]}"
        if self.sequential:
            in_flight = self._in_flight_settled()
            if in_flight:
                self.poisoned = True
                return (f"\n  and then {in_flight:g} synthesis slot(s) stay taken with no request running "
                        f"(emotivoice_in_flight_requests after {IDLE_GRACE:.0f} s)")
        return ""

    def _in_flight_settled(self) -> float:
        """emotivoice_in_flight_requests once it reaches 0, or its value after IDLE_GRACE seconds (a slot
        is freed when the response's last byte is sent, a moment after the client has it)."""
        deadline = time.monotonic() + IDLE_GRACE
        while True:
            text = self._probe.get(self.url + "/metrics").text
            match = re.search(r"^emotivoice_in_flight_requests (\S+)$", text, re.M)
            value = float(match.group(1)) if match else 0.0
            if value == 0 or time.monotonic() > deadline:
                return value
            time.sleep(0.02)

    def assert_speaks(self) -> None:
        """A plain synthesis still succeeds with audible audio: the server is not just alive but useful."""
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        r = httpx.post(self.url + "/v1/audio/speech", timeout=CLIENT_TIMEOUT, headers=headers,
                       json={"input": "Still speaking. 还在说话。", "voice": "alloy", "response_format": "wav"})
        assert r.status_code == 200, f"the server stopped speaking after the fuzz: {r.status_code} {r.text[:300]}"
        assert decode(r.content, "wav").rms > 0.01, "the server answered 200 but the audio is silent"


def _logged(records: list[logging.LogRecord]) -> str:
    crash = crash_of(records)
    return f"\n  server logged: {crash[1]}" if crash else ""
