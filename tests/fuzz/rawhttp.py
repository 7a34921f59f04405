"""A raw-socket HTTP/1.1 client for the framing tests: it sends exactly the bytes it is given.

Why not an HTTP client library: a library normalises what it sends (it computes Content-Length, refuses
header bytes it considers odd, always finishes a body), and the requests these tests need are exactly the
ones a library would never produce: a megabyte of headers, bytes outside latin-1, a Content-Length the
body never reaches, a chunked body that never ends. The request is written from a second thread while
this one reads, so an early answer (413, 431) is read even when the server stops reading the request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable

from tests.fuzz.invariant import CLIENT_TIMEOUT, Answer, Target


class NoAnswer(Exception):
    """No complete HTTP answer: ``reason`` is ``hang`` (the deadline passed) or how the connection ended."""

    def __init__(self, reason: str, received: bytes) -> None:
        super().__init__(f"{reason}; received {len(received)} bytes: {received[:200]!r}")
        self.reason, self.received = reason, received


def exchange(address: tuple[str, int], head: bytes, body: Iterable[bytes] = (), *, timeout: float) -> Answer:
    """Send ``head`` then each part of ``body``, and read one answer; the whole answer must arrive within
    ``timeout`` seconds. The connection is left open while waiting (never half-closed): a client that
    stalls mid-body is exactly what some cases emulate."""
    sock = socket.create_connection(address, timeout=5)
    sock.settimeout(0.2)

    def write() -> None:
        try:
            sock.sendall(head)
            for part in body:
                sock.sendall(part)
        except OSError:
            pass  # the server answered early and closed, or we closed after reading the answer

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            parsed = _parse(bytes(received), complete=False, bodiless=head.startswith(b"HEAD "))
            if parsed is not None:
                return parsed
            if time.monotonic() > deadline:
                raise NoAnswer("hang", bytes(received))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
                reason = "connection reset"
            else:
                reason = "connection closed"
            if not data:
                parsed = _parse(bytes(received), complete=True, bodiless=head.startswith(b"HEAD "))
                if parsed is None:
                    raise NoAnswer(reason, bytes(received))
                return parsed
            received += data
    finally:
        sock.close()
        writer.join(timeout=5)


def _parse(data: bytes, *, complete: bool, bodiless: bool = False) -> Answer | None:
    """The first final (non-1xx) answer in ``data``, or None while it is still incomplete. ``complete``:
    the connection has ended, so a body without a length ends here; ``bodiless``: the answer to a HEAD."""
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise NoAnswer(f"not an HTTP status line: {lines[0][:100]!r}", data)
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        rest = data[end + 4:]
        if 100 <= status < 200:
            data = rest
            continue
        if bodiless or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = _dechunk(rest)
            if body is None:
                return None
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if len(rest) < length:
                return None
            body = rest[:length]
        elif complete:
            body = rest
        else:
            return None
        return Answer(status, headers, body, to_head=bodiless)


def _dechunk(data: bytes) -> bytes | None:
    body = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(data[pos:eol].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(body)
        if len(data) < eol + 2 + size + 2:
            return None
        body += data[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


def request_head(method: str, path: str, headers: Iterable[tuple[bytes, bytes]], host: str) -> bytes:
    """A request line and header block, bytes exactly as given (no validation, no normalisation)."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + host.encode()]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def send_raw(target: Target, head: bytes, body: Iterable[bytes] = (), *, what: str,
             timeout: float = CLIENT_TIMEOUT) -> Answer:
    """One raw exchange with ``target``, counted and judged by the invariant like any other case."""
    mark = target.begin()
    try:
        answer = exchange(target.address, head, body, timeout=timeout)
    except NoAnswer as exc:
        symptom = "hang" if exc.reason == "hang" else f"no answer ({exc.reason.split(':')[0]})"
        target.fail(symptom, f"{what}\n  -> {exc}", mark)
    target.judge(answer, what, mark)
    return answer
