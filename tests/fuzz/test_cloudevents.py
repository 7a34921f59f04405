"""CloudEvents on ``POST /`` under fuzz: binary and structured mode, arbitrary, missing and huge attributes,
arbitrary and deeply nested data, wrong content types, the three consumed types with field values drawn
from strategies, and ``text_uri`` / ``recipients_uri`` references of every shape.

Why this route gets its own suite: it is open to anyone who can reach the Service (issue 14), and the
Kafka broker acts on the status alone, so a wrong status is not cosmetic: a 500 is redelivered forever,
a 2xx that is not a CloudEvent breaks the broker's reply path. Beyond the invariant, every 2xx must be a
binary-mode CloudEvent reply of an emitted type (``*.failed`` with a code and message), and no answer
may contain what a reference outside the storage root holds (the canary), nor claim it was spoken.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from function.events import types as t
from tests.fuzz.conftest import CANARY
from tests.fuzz.invariant import Answer, Target, fuzz_settings, violation
from tests.fuzz.strategies import (
    REFERENCES, formats, header_values, hostile_text, json_values, languages, mostly, nested, raw_json, reference,
    references, short_text, speeds, voices,
)

MISSING = object()  # an attribute left out altogether
REQUIRED = ("id", "source", "type", "specversion")
HUGE = "h" * 100_000


def odd_values() -> st.SearchStrategy[Any]:
    """What an attribute might hold instead of a proper value: nothing, empty, random, huge, non-latin."""
    return st.one_of(st.just(MISSING), st.just(""), short_text, st.just(HUGE), st.just("事件-é-\u202e"))


def synthesis_data(refs: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    text = mostly(st.one_of(hostile_text, st.just("新年快乐！Happy new year.")), json_values)
    source = st.one_of(  # mostly exactly one of text and text_uri, as the schema asks
        st.fixed_dictionaries({"text": text}), st.fixed_dictionaries({"text": text}),
        st.fixed_dictionaries({"text_uri": refs}),
        st.fixed_dictionaries({}, optional={"text": text, "text_uri": refs}))
    rest = st.fixed_dictionaries({}, optional={
        "voice": voices, "emotion": st.one_of(st.none(), hostile_text), "speed": speeds, "language": languages,
        "format": formats})
    extra = st.one_of(st.just({}), st.just({}), st.dictionaries(short_text, json_values, max_size=2))
    return st.builds(lambda a, b, c: {**a, **b, **c}, source, rest, extra)


def recipients() -> st.SearchStrategy[Any]:
    recipient = st.fixed_dictionaries(
        {"id": mostly(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,12}\Z"), short_text),
         "name": mostly(st.one_of(hostile_text, st.just("张三")), st.just("n" * 201), json_values)},
        optional={"voice": voices, "emotion": hostile_text,
                  "fields": st.dictionaries(short_text, mostly(hostile_text, json_values), max_size=3)},
    )
    return mostly(st.lists(recipient, min_size=1, max_size=4, unique_by=lambda r: str(r["id"])), json_values)


def batch_data(refs: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    templates = mostly(st.sampled_from(("{name}，新年快乐！", "Happy new year, {name} from {city}!",
                                        "{name}{name}{name}")),
                       st.sampled_from(("{0}", "{name.__class__}", "{name!r}", "{name:>999999}", "{", "}", "{{}}",
                                        "%s", "")), hostile_text, st.just("{name}" * 200))
    people = mostly(st.fixed_dictionaries({"recipients": recipients()}),
                    st.fixed_dictionaries({"recipients_uri": refs}),
                    st.fixed_dictionaries({}, optional={"recipients": recipients(), "recipients_uri": refs}))
    return st.builds(lambda a, b: {**a, **b}, people, st.fixed_dictionaries({"template": templates}, optional={
        "batch_id": st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z"), short_text),
        "voice": voices, "emotion": hostile_text, "speed": speeds, "language": languages, "format": formats,
    }))


def chunk_data() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "batch_id": st.one_of(st.just("b-0123456789abcdef0123"), short_text),
        "chunk": st.one_of(st.integers(-2, 3), st.integers(), json_values), "extra": json_values,
    })


MUTATIONS = ("attribute", "type", "specversion", "extension", "data", "bytes", "content-type", "mode",
             "data_base64", "header")


@st.composite
def deliveries(draw: st.DrawFn, refs: st.SearchStrategy[str]) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    """(description, headers, body) of one delivery to ``POST /``: a well-formed event of a consumed type
    with data drawn from that type's fields, then up to two mutations (an attribute missing, odd or huge;
    a type we do not consume; extensions; other data; raw bytes; another content type; binary and
    structured at once or neither; ``data_base64``; extra header bytes). Mostly-valid cases reach the
    service; the mutations probe the envelope."""
    type_: Any = draw(st.sampled_from(t.CONSUMED))
    data: Any = draw({t.SYNTHESIS_REQUESTED: synthesis_data(refs), t.BATCH_REQUESTED: batch_data(refs),
                      t.BATCH_CHUNK: chunk_data()}[type_])
    attrs: dict[str, Any] = {"id": draw(st.uuids()).hex,
                             "source": draw(st.sampled_from(("/tests/fuzz", "urn:x", "https://example.com/src"))),
                             "type": type_, "specversion": "1.0"}
    mode = draw(st.sampled_from(("binary", "structured")))
    ctype: Any = draw(st.sampled_from(("application/json", "application/json; charset=utf-8")))
    structured_ctype = "application/cloudevents+json"
    raw_body: bytes | None = None
    base64_data = False
    extra_headers: list[tuple[bytes, bytes]] = []
    mutations = draw(st.lists(st.sampled_from(MUTATIONS), max_size=2))
    for mutation in mutations:
        if mutation == "attribute":
            attrs[draw(st.sampled_from(REQUIRED))] = draw(odd_values())
        elif mutation == "type":
            attrs["type"] = draw(st.one_of(st.sampled_from(t.EMITTED), odd_values()))
        elif mutation == "specversion":
            attrs["specversion"] = draw(st.one_of(st.sampled_from(("0.3", "1.0 ", "2.0", "1", 1.0)), odd_values()))
        elif mutation == "extension":
            name = draw(st.sampled_from(("subject", "time", "dataschema", "traceparent", "partitionkey", "x",
                                         "ÜBER", "datacontenttype")))
            attrs[name] = draw(st.one_of(st.just("2026-12-02T00:00:00Z"), json_values, odd_values()))
        elif mutation == "data":
            data = draw(json_values)
        elif mutation == "bytes":
            raw_body = draw(st.binary(max_size=64))
        elif mutation == "content-type":
            ctype = draw(st.one_of(st.sampled_from(("text/plain", "application/xml", "application/cloudevents+json",
                                                    "application/octet-stream", "")), short_text, st.just(MISSING)))
            structured_ctype = draw(st.sampled_from(("application/cloudevents+json; charset=utf-8",
                                                     "application/cloudevents-batch+json", "application/json")))
        elif mutation == "mode":
            mode = draw(st.sampled_from(("both", "neither", "structured-batch")))
        elif mutation == "data_base64":
            base64_data = True
        else:
            extra_headers.append((draw(st.sampled_from((b"ce-id", b"ce-type", b"ce-extra", b"content-type"))),
                                  draw(header_values)))
    present = {k: v for k, v in attrs.items() if v is not MISSING}
    headers: list[tuple[bytes, bytes]] = [(b"prefer", b"reply")] if draw(st.booleans()) else []
    if mode in ("binary", "both"):
        headers += [(f"ce-{k}".encode(), _header(str(v))) for k, v in present.items() if k.isascii()]
        body = raw_json(data) if raw_body is None else raw_body
        content_type = ctype if mode == "binary" else structured_ctype
    else:
        envelope = {**present, "datacontenttype": ctype} if ctype is not MISSING else dict(present)
        if base64_data:
            envelope["data_base64"] = draw(st.one_of(st.just(base64.b64encode(raw_json(data)).decode()), short_text))
        else:
            envelope["data"] = data
        body = raw_json([envelope] if mode == "structured-batch" else envelope) if raw_body is None else raw_body
        content_type = structured_ctype if mode != "neither" else ctype
    if content_type is not MISSING:
        headers.append((b"content-type", _header(content_type)))
    return f"{mode} {type_} {'+'.join(mutations) or 'well-formed'}", headers + extra_headers, body


def _header(value: str) -> bytes:
    """An attribute as header bytes (UTF-8; values with line breaks or controls cannot be headers)."""
    raw = value.encode("utf-8", "surrogatepass")
    return bytes(b for b in raw if b >= 0x20 and b != 0x7F).strip(b" \t") or b"x"


def check_delivery(answer: Answer, what: str) -> None:
    """What the broker needs beyond the invariant: a 2xx is a binary-mode CloudEvent reply of a type we
    emit (``*.failed`` with a code and a message); nothing ever echoes the canary."""
    blob = answer.body + json.dumps(dict(answer.headers)).encode()
    if CANARY.encode() in blob:
        raise violation("reference content leaked", f"{what}\n  -> {answer.status} {answer.excerpt()}")
    if not 200 <= answer.status < 300:
        return
    h = answer.headers
    if h.get("ce-specversion") != "1.0" or not h.get("ce-id") or not h.get("ce-source"):
        raise violation("2xx that is not a CloudEvent", f"{what}\n  -> {answer.status} {dict(h)} {answer.excerpt()}")
    if h.get("ce-type") not in t.EMITTED:
        raise violation("reply of a type we do not emit", f"{what}\n  -> ce-type {h.get('ce-type')!r}")
    try:
        data = answer.json()
    except ValueError:
        raise violation("reply data not JSON", f"{what}\n  -> {answer.excerpt()}") from None
    coded = isinstance(data, dict) and isinstance(data.get("code"), str) and isinstance(data.get("message"), str)
    if h["ce-type"].endswith(".failed") and not coded:
        raise violation("failed reply without code/message", f"{what}\n  -> {answer.excerpt()}")


def deliver(target: Target, headers: list[tuple[bytes, bytes]], body: bytes, what: str) -> Answer:
    answer = target.request("POST", "/", content=body, headers=headers, what=what)
    check_delivery(answer, what)
    if currently_in_test_context():  # outcome statistics for --hypothesis-show-statistics
        event(f"{answer.status} {answer.headers.get('ce-type') or answer.json()['error']['code']}")
    return answer


def _refs(target: Target, canary_dir: Path) -> st.SearchStrategy[str]:
    return references(str(target.storage_dir), str(canary_dir))


@fuzz_settings(max_examples=300)
@given(data=st.data())
def test_any_delivery(target: Target, canary_dir: Path, data: st.DataObject) -> None:
    """Any delivery: binary, structured, both or neither; attributes valid, missing, odd or huge; data of
    the type's schema with hostile values, or anything JSON, or bytes."""
    mode, headers, body = data.draw(deliveries(_refs(target, canary_dir)), label="delivery")
    what = f"POST / ({mode}) headers={_shown(headers)} body={body[:400]!r}"
    deliver(target, headers, body, what)


def _binary(type_: str, data: bytes, ctype: bytes = b"application/json") -> list[tuple[bytes, bytes]]:
    return [(b"ce-id", uuid.uuid4().hex.encode()), (b"ce-source", b"/tests/fuzz"), (b"ce-type", type_.encode()),
            (b"ce-specversion", b"1.0"), (b"content-type", ctype), (b"prefer", b"reply")]


def check_reference(target: Target, canary_dir: Path, ref: str, field_: str) -> None:
    if field_ == "text_uri":
        type_, payload = t.SYNTHESIS_REQUESTED, {"text_uri": ref, "format": "wav"}
    else:
        type_ = t.BATCH_REQUESTED
        payload = {"template": "{name}，新年快乐！", "recipients_uri": ref, "format": "wav"}
    what = f"POST / binary {type_} {raw_json(payload)[:300]!r}"
    answer = deliver(target, _binary(type_, payload), raw_json(payload), what)
    outside = str(canary_dir) in ref or "/outside/" in ref or "/../" in ref
    if outside and answer.headers.get("ce-type") in (t.SYNTHESIS_COMPLETED, t.BATCH_COMPLETED):
        items = answer.json().get("items", [{}]) if type_ == t.BATCH_REQUESTED else [{"status": "ok"}]
        if any(i.get("status") == "ok" for i in items):
            raise violation("read outside the storage root", f"{what}\n  -> {answer.headers.get('ce-type')} "
                            f"{answer.excerpt()}")


@pytest.mark.parametrize("field_", ["text_uri", "recipients_uri"])
@pytest.mark.parametrize("template", REFERENCES, ids=[repr(r)[:40] for r in REFERENCES])
def test_reference_shapes(target: Target, canary_dir: Path, template: str, field_: str) -> None:
    """Every listed reference shape in otherwise valid events: a completed reply, a ``*.failed`` reply or
    a documented error; never the canary's content, never a completed synthesis of a file outside the
    storage root."""
    check_reference(target, canary_dir, reference(template, str(target.storage_dir), str(canary_dir)), field_)


@fuzz_settings(max_examples=60)
@given(uri=st.data(), field_=st.sampled_from(("text_uri", "recipients_uri")))
def test_references(target: Target, canary_dir: Path, uri: st.DataObject, field_: str) -> None:
    """The listed shapes and random ``s3://`` / ``file://`` tails, by the same rules."""
    check_reference(target, canary_dir, uri.draw(_refs(target, canary_dir), label="uri"), field_)


NESTINGS = [(mode, shape, depth) for mode in ("binary", "structured", "structured-data")
            for shape in ("list", "dict") for depth in (10_000, 100_000)]


@pytest.mark.parametrize(("mode", "shape", "depth"), NESTINGS, ids=[f"{m}-{s}-{d}" for m, s, d in NESTINGS])
def test_deeply_nested(target: Target, mode: str, shape: str, depth: int) -> None:
    """10,000 and 100,000 levels of ``[[[...]]]`` / ``{"a":{"a":...}}``: as the binary body, as the whole
    structured envelope, and as the structured envelope's ``data``. A parser's recursion limit is an
    input error (4xx), not a crash."""
    deep = nested(depth, shape)
    if mode == "binary":
        headers, body = _binary(t.SYNTHESIS_REQUESTED, b""), deep
    elif mode == "structured":
        headers, body = [(b"content-type", b"application/cloudevents+json")], deep
    else:
        head = raw_json({"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/tests/fuzz",
                         "type": t.SYNTHESIS_REQUESTED, "datacontenttype": "application/json"})
        headers, body = [(b"content-type", b"application/cloudevents+json")], head[:-1] + b', "data": ' + deep + b"}"
    what = f"POST / {mode}: {depth} levels of {shape}"
    answer = deliver(target, headers, body, what)
    assert answer.status >= 400 or answer.headers.get("ce-type", "").endswith(".failed"), (
        f"{what}: accepted as a request -> {answer.status} {answer.headers.get('ce-type')}")


CONTENT_TYPES = [b"text/plain", b"application/xml", b"application/x-www-form-urlencoded", b"multipart/form-data",
                 b"application/json; charset=utf-16", b"APPLICATION/JSON", b"application/cloudevents+json",
                 b"application/cloudevents-batch+json", b"", b"\xff\xfe", "application/jsón".encode()]


@pytest.mark.parametrize("ctype", CONTENT_TYPES, ids=[c.decode("latin-1") or "empty" for c in CONTENT_TYPES])
def test_binary_mode_content_types(target: Target, ctype: bytes) -> None:
    """A binary-mode synthesis event whose data is valid JSON under a content type that is not JSON (or
    is oddly spelled): a reply or a documented error (415 ``unsupported_data_content_type`` for non-JSON)."""
    payload = raw_json({"text": "你好", "format": "wav"})
    deliver(target, _binary(t.SYNTHESIS_REQUESTED, payload, ctype), payload, f"POST / binary content-type {ctype!r}")


def _shown(headers: list[tuple[bytes, bytes]]) -> str:
    return repr([(k, v[:80] + (b"..." if len(v) > 80 else b"")) for k, v in headers])[:600]
