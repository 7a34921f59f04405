"""Servers under fuzz, the end-of-module "still speaks" check, and the printed count of generated cases.

Real servers (tests/conftest.py ``run_server``: uvicorn on a loopback port, espeak engine, local storage
in a temporary directory), one per configuration the suite needs, each started per module (so a server
one module broke does not fail the next) and restarted after a case that broke it (``Target``):

- ``target``: the defaults, except a 10 s queue timeout (so a request stuck in the queue is answered
  well inside the client's hang deadline) and at most 5 recipients per batch (so a generated batch runs
  in a second, not an hour: the fuzz is about answers, not throughput).
- ``schema_target``: the same, for the schema-driven fuzz, whose batches run in the background.
- ``framing_target``: a 64 KiB body limit (oversize bodies cost little to send) and a 2 s body timeout
  (a stalled body must be answered; waiting the default 30 s per case would blow the suite's budget).
- in ``test_auth``: ``auth=jwt`` with a 32-byte HS256 secret, and with RSA, EC and Ed25519 public keys.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.invariant import CASES, CODES_SEEN, ServerLog, Target

README = Path(__file__).resolve().parents[2] / "README.md"
JWT_SECRET = "x" * 32
CANARY = "CANARYSECRET7f3a"  # the content of files outside the storage root; no answer may contain it


@pytest.fixture(scope="session")
def server_log() -> Iterator[ServerLog]:
    """What the servers under fuzz log, while any runs; see ``_traceback_without_carets`` for the patch."""
    log = ServerLog()
    with _traceback_without_carets():
        yield log
    log.uninstall()


@contextmanager
def _traceback_without_carets() -> Iterator[None]:
    """Work around a CPython 3.11 bug that would otherwise kill the run with an INTERNALERROR.

    3.11 places a traceback's ``^^^^`` carets by parsing the failing line with ``ast``, and keeps the AST
    constructor's recursion counter per interpreter, not per thread (gh-106905). The servers under fuzz
    run in this process and log tracebacks from their threads while pytest and Hypothesis parse source in
    the main thread; when the two overlap, one of them gets "SystemError: AST constructor recursion depth
    mismatch". Tracebacks without carets carry the same information."""
    name = "_extract_caret_anchors_from_line_segment"
    original = getattr(traceback, name, None)
    if sys.version_info[:2] == (3, 11) and original is not None:
        setattr(traceback, name, lambda segment: None)
    try:
        yield
    finally:
        if original is not None:
            setattr(traceback, name, original)


@pytest.fixture(scope="session")
def canary_dir() -> Path:
    """A directory outside every server's storage root holding a file no answer may ever reveal
    (``text_uri`` / ``recipients_uri`` cases point at it)."""
    root = Path(tempfile.mkdtemp(prefix="emotivoice-fuzz-outside-"))
    (root / "canary.txt").write_text(CANARY + "\n", encoding="utf-8")
    (root / "canary.jsonl").write_text(f'{{"id": "a", "name": "{CANARY}"}}\n', encoding="utf-8")
    return root


def serve(target: Target) -> Iterator[Target]:
    """Yield ``target``; at the end of the module check it still speaks (alive-and-ready, checked after
    every case, is not enough if the worker pool is wedged), then stop it."""
    try:
        yield target
        if not target.poisoned:  # a broken server was already reported at the case that broke it
            target.assert_speaks()
    finally:
        target.close()


@pytest.fixture(scope="module")
def target(server_log: ServerLog, canary_dir: Path) -> Iterator[Target]:
    storage = Path(tempfile.mkdtemp(prefix="emotivoice-fuzz-storage-"))
    # A link inside the storage root that leads outside it: following it must be refused too.
    (storage / "outside").symlink_to(canary_dir, target_is_directory=True)
    yield from serve(Target(server_log, "defaults", storage_dir=storage, queue_timeout_seconds=10,
                             batch_max_recipients=5))


@pytest.fixture(scope="module")
def schema_target(server_log: ServerLog) -> Iterator[Target]:
    """For the schema-driven fuzz, which starts batches that run in the background: not sequential."""
    yield from serve(Target(server_log, "defaults, background batches", sequential=False,
                             queue_timeout_seconds=10, batch_max_recipients=5))


@pytest.fixture(scope="module")
def framing_target(server_log: ServerLog) -> Iterator[Target]:
    yield from serve(Target(server_log, "64 KiB body limit, 2 s body timeout", max_body_bytes=64 * 1024,
                             body_timeout_seconds=2.0, queue_timeout_seconds=10))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how many cases each fuzz test generated (``.ci/run`` shows it), and which error codes the
    servers answered with, marking those the README never mentions (a client cannot look them up)."""
    if not CASES:
        return
    terminalreporter.section("fuzz cases generated")
    for test, n in sorted(CASES.items()):
        terminalreporter.write_line(f"{n:6d}  {test}")
    terminalreporter.write_line(f"{sum(CASES.values()):6d}  total")
    readme = README.read_text(encoding="utf-8") if README.is_file() else ""
    codes = [f"{code} x{n}" + ("" if f"`{code}`" in readme else " (not in README)")
             for code, n in sorted(CODES_SEEN.items())]
    terminalreporter.write_line("error codes answered: " + ", ".join(codes))
