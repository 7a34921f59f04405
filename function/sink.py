"""Publishing CloudEvents the function originates (batch chunks, progress, completion) to the broker (K_SINK).

Replies go back in the HTTP response; these are the extra events a batch needs. A publish failure is
retryable for the event that caused it: the caller answers 5xx and the broker redelivers, and the
deterministic ids of what we publish let consumers drop the duplicates.

A leaf: imports nothing of ours but ``function.errors``. Its HTTP client is opened lazily and closed by
the runtime's ``stop``; httpx and the CloudEvents SDK are imported on first use (a function without a
sink, or before its first batch, never pays for them at start).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from function.errors import DefinedError, Kind

if TYPE_CHECKING:
    import httpx
    from cloudevents.core.v1.event import CloudEvent

log = logging.getLogger(__name__)


class PublishFailed(DefinedError, code="sink_unavailable", kind=Kind.UNAVAILABLE):
    """The broker did not take an event: retryable for the delivery that caused the publish."""


def make_event(type_: str, source: str, id_: str, data: dict[str, Any], subject: str | None = None) -> CloudEvent:
    from cloudevents.core.v1.event import CloudEvent

    attributes: dict[str, Any] = {"type": type_, "source": source, "id": id_, "specversion": "1.0",
                                  "datacontenttype": "application/json"}
    if subject:
        attributes["subject"] = subject
    return CloudEvent(attributes=attributes, data=data)


class Publisher:
    """``token_file``: a bearer token sent with every publish, re-read each time (a projected
    service-account token the kubelet rotates; the Kafka broker's receiver requires one with Knative
    Eventing's OIDC authentication on)."""

    def __init__(self, sink: str | None, timeout: float = 10.0, *, token_file: Path | None = None) -> None:
        self.sink = sink
        self._timeout = timeout
        self._token_file = token_file
        self._client: httpx.AsyncClient | None = None

    def _auth_headers(self) -> dict[str, str]:
        if self._token_file is None:
            return {}
        try:
            token = self._token_file.read_text().strip()
        except OSError as exc:
            raise PublishFailed(f"cannot read the broker token {self._token_file}: {exc}") from exc
        return {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def enabled(self) -> bool:
        return self.sink is not None

    async def publish(self, event: CloudEvent) -> None:
        if self.sink is None:
            return
        import httpx
        from cloudevents.core.bindings.http import to_binary
        from cloudevents.core.formats.json import JSONFormat

        if self._client is None:  # opened on first use, inside the loop that will close it
            self._client = httpx.AsyncClient(timeout=self._timeout)
        message = to_binary(event, JSONFormat())
        try:
            r = await self._client.post(self.sink, headers={**message.headers, **self._auth_headers()},
                                        content=message.body)
        except httpx.HTTPError as exc:
            raise PublishFailed(f"broker at {self.sink} unreachable: {exc}") from exc
        if r.status_code >= 300:
            raise PublishFailed(f"broker at {self.sink} answered {r.status_code}")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
