"""Schemathesis over the live server's ``/openapi.json``: every documented operation, with inputs that
follow the schema (positive) and inputs that break it (negative: wrong types, missing required fields,
values outside enums and ranges, bytes where JSON belongs).

Why schemathesis and not hand-written strategies only: it derives cases from the schema the server
itself publishes, so a new field or route is fuzzed without anyone writing a strategy for it. It is used
through its Python API (``schemathesis.openapi.from_dict`` and ``APIOperation.as_strategy``) inside our own
Hypothesis tests, so the suite keeps one invariant, one client with a hang deadline, and one place that
sets example counts and derandomization. The documented operations are listed here, one test each, so
each reports its own failures; ``test_other_operations`` fuzzes whatever else the server publishes.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.fuzz.invariant import Target, fuzz_settings
from tests.fuzz.strategies import raw_json

# Every operation of the README's API table and the CloudEvents ingress.
OPERATIONS = (
    "POST /v1/audio/speech", "POST /v1/synthesize", "GET /v1/audio/voices", "GET /v1/models", "POST /v1/batches",
    "GET /v1/batches/{batch_id}", "GET /health/liveness", "GET /health/readiness", "GET /metrics", "POST /",
)


@pytest.fixture(scope="module")
def schema(schema_target: Target) -> schemathesis.BaseSchema:
    """The schema the running server publishes (not one built from the code: what clients see)."""
    spec = httpx.get(f"{schema_target.url}/openapi.json", timeout=30).json()
    return schemathesis.openapi.from_dict(spec)


def published(schema: schemathesis.BaseSchema) -> list[str]:
    return [result.ok().label for result in schema.get_all_operations()]


def _strategy(schema: schemathesis.BaseSchema, label: str) -> st.SearchStrategy[Any]:
    method, path = label.split(" ", 1)
    assert label in published(schema), f"{label} is documented (README API table) but the server does not serve it"
    operation = schema[path][method]
    modes = [GenerationMode.POSITIVE]
    if len(operation.body) or list(operation.iter_parameters()):
        modes.append(GenerationMode.NEGATIVE)  # an operation without inputs has no way to be wrong
    return st.one_of(*(operation.as_strategy(mode) for mode in modes))


def _send(target: Target, case: Any) -> None:
    """Send a schemathesis case through the suite's client (fresh connection, deadline, invariant)."""
    kwargs = case.as_transport_kwargs(base_url=target.url)
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() not in ("connection",)}
    content: bytes | None = None
    if "json" in kwargs:
        content = raw_json(kwargs["json"])  # not httpx's encoder: it refuses lone surrogates and NaN
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("files") or isinstance(kwargs.get("data"), dict):
        content = multipart(kwargs.get("files") or [], kwargs.get("data") or {})
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
    elif "data" in kwargs:
        data = kwargs["data"]
        content = data if isinstance(data, bytes) else str(data).encode()
    path = kwargs["url"].removeprefix(target.url)
    what = f"{case.operation.label} ({case.meta.generation.mode.value if case.meta else '?'}): " \
           f"{kwargs['method']} {path} params={kwargs.get('params')} body={(content or b'')[:300]!r}"
    target.request(kwargs["method"], path, content=content, headers=headers, params=kwargs.get("params") or None,
                   what=what)


BOUNDARY = "fuzzboundary7f3a"


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode("utf-8", "surrogatepass")


def multipart(files: list[tuple[str, Any]], fields: dict[str, Any]) -> bytes:
    """A multipart/form-data body of exactly the generated parts. Our own encoder, because negative cases
    put numbers, lists and lone surrogates where a client library insists on files and strings."""
    parts = [(name, part if isinstance(part, tuple) else (None, part)) for name, part in files]
    parts += [(name, (None, value)) for name, value in fields.items()]
    out = bytearray()
    for name, (filename, value, *_) in parts:
        disposition = b'form-data; name="' + _bytes(name).replace(b'"', b"%22") + b'"'
        if filename is not None:
            disposition += b'; filename="' + _bytes(filename).replace(b'"', b"%22") + b'"'
        out += b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n"
        out += _bytes(value) + b"\r\n"
    return bytes(out + b"--" + BOUNDARY.encode() + b"--\r\n")


# Examples per operation: more where inputs are rich, a handful where there are none to vary.
BUDGET = {"POST /v1/audio/speech": 120, "POST /v1/synthesize": 120, "POST /v1/batches": 60,
          "GET /v1/batches/{batch_id}": 30, "POST /": 15}


def fuzz_operation(target: Target, schema: schemathesis.BaseSchema, label: str) -> None:
    strategy = _strategy(schema, label)

    @fuzz_settings(max_examples=BUDGET.get(label, 20))
    @given(case=strategy)
    def run(case: Any) -> None:
        _send(target, case)

    run()


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation(schema_target: Target, schema: schemathesis.BaseSchema, label: str) -> None:
    """Schema-derived cases for one documented operation, positive and negative: every answer obeys the
    invariant."""
    fuzz_operation(schema_target, schema, label)


def test_other_operations(schema_target: Target, schema: schemathesis.BaseSchema) -> None:
    """Every operation the server publishes beyond the documented list (a route added since), fuzzed the
    same way: nothing served escapes the fuzz. Each is run in turn; all failures are reported together."""
    failures: list[str] = []
    for label in [op for op in published(schema) if op not in OPERATIONS]:
        try:
            fuzz_operation(schema_target, schema, label)
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then fail once
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
    assert not failures, "\n\n".join(failures)
