"""CloudEvents in and out over HTTP: strict parsing of a broker delivery (binary or structured mode) and
binary-mode replies whose id derives from the request, so a redelivered event gets the very same reply.

Owns the envelope only; what an event asks for is handled in ``function.events.ingress``. Must not import
``function.http``. The CloudEvents SDK is imported by the first delivery, not at start.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

from function.errors import Kind, ServiceError, shown
from function.events import types as t
from function.sink import make_event

_REQUIRED = ("id", "source", "type", "specversion")


def malformed(code: str, message: str, kind: Kind = Kind.INVALID) -> ServiceError:
    """A delivery that is not a usable event: permanent, the broker dead-letters it."""
    return ServiceError(kind, code, message)


class Incoming(BaseModel):
    id: str
    source: str
    type: str
    data: dict[str, Any]

    @property
    def ref(self) -> t.RequestRef:
        return t.RequestRef(source=self.source, id=self.id)


def _json(raw: bytes | str, code: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise malformed(code, f"{what} is not valid JSON.") from None
    except RecursionError:
        raise malformed(code, f"{what} is nested too deeply.") from None


def parse(headers: dict[str, str], body: bytes) -> Incoming:
    """Validate strictly (the SDK would invent a missing id, which would defeat idempotency), then parse
    with the cloudevents SDK."""
    lowered = {k.lower(): v for k, v in headers.items()}
    binary = any(k.startswith("ce-") for k in lowered)
    if binary:
        attrs = {name: lowered.get(f"ce-{name}") for name in _REQUIRED}
    else:
        if lowered.get("content-type", "").split(";")[0].strip() != "application/cloudevents+json":
            raise malformed("not_a_cloudevent", "Send a CloudEvent: binary mode (ce-* headers) or structured mode "
                            "(application/cloudevents+json).", Kind.UNSUPPORTED_MEDIA)
        envelope = _json(body, "invalid_cloudevent", "The structured CloudEvent")
        if not isinstance(envelope, dict):
            raise malformed("invalid_cloudevent", "The structured CloudEvent must be a JSON object.")
        attrs = {name: envelope.get(name) for name in _REQUIRED}
    missing = [name for name in _REQUIRED if not attrs.get(name)]
    if missing:
        raise malformed("invalid_cloudevent", f"Missing required CloudEvents attribute(s): {', '.join(missing)}.")
    if attrs["specversion"] != "1.0":
        raise malformed("unsupported_specversion",
                        f"specversion {shown(str(attrs['specversion']))} is not supported; use '1.0'.")
    if attrs["type"] not in t.CONSUMED:
        raise malformed("unsupported_event_type",
                        f"Event type {shown(str(attrs['type']))} is not handled here; expected one of "
                        f"{', '.join(t.CONSUMED)}.")
    from cloudevents.core.bindings.http import HTTPMessage, from_http
    from cloudevents.core.formats.json import JSONFormat

    try:
        event = from_http(HTTPMessage(headers=lowered, body=body), JSONFormat())
    except Exception as exc:  # noqa: BLE001 - any SDK complaint is a malformed event
        raise malformed("invalid_cloudevent", f"Not a valid CloudEvent: {shown(str(exc), 200)}") from None
    ctype = (event.get_datacontenttype() or "application/json").split(";")[0].strip()
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise malformed("unsupported_data_content_type", f"Event data must be application/json, got {shown(ctype)}.",
                            Kind.UNSUPPORTED_MEDIA)
        data = _json(data, "invalid_event_data", "Event data")
    if not isinstance(data, dict):
        raise malformed("invalid_event_data", "Event data must be a JSON object.")
    return Incoming(id=str(attrs["id"]), source=str(attrs["source"]), type=str(attrs["type"]), data=data)


def reply(source: str, incoming: Incoming, type_: str, data: BaseModel) -> Response:
    """A binary-mode CloudEvent response (``source``: ours). Its id is derived from the request's identity,
    so a redelivered request gets the very same reply."""
    from cloudevents.core.bindings.http import to_binary
    from cloudevents.core.formats.json import JSONFormat

    reply_id = hashlib.sha256(f"{type_}|{incoming.source}|{incoming.id}".encode()).hexdigest()[:32]
    event = make_event(type_, source, reply_id, data.model_dump(mode="json"), subject=incoming.id)
    message = to_binary(event, JSONFormat())
    return Response(message.body, status_code=200, headers=message.headers)
