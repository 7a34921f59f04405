"""The production overlays require OIDC sender tokens on event delivery (the Service stays public for /v1),
and their pieces agree: Trigger audiences, the function's settings, the mounted keys, the Broker token."""

from __future__ import annotations

import asyncio
import fnmatch
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from function.settings import Settings
from function.sink import Publisher, PublishFailed, make_event
from tests.knative.kube import config_data, find, ksvc, one, render_overlay
from tests.knative.test_knative_service import settings_from

PRODUCTION = ("cpu", "gpu")


def mounted(svc: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume whose mount holds ``path``."""
    spec = svc["spec"]["template"]["spec"]
    for mount in spec["containers"][0].get("volumeMounts", []):
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            return next(v for v in spec["volumes"] if v["name"] == mount["name"])
    raise AssertionError(f"{path} is on no mounted volume")


@pytest.mark.parametrize("name", PRODUCTION)
def test_production_requires_sender_tokens(need_kubectl: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objs = render_overlay(name)
    svc = ksvc(objs)
    settings = settings_from(config_data(objs, svc), monkeypatch)
    namespace = svc["metadata"]["namespace"]
    assert settings.auth == "jwt" and settings.event_auth == "oidc"
    assert settings.rate_limit_per_second > 0
    assert svc["metadata"].get("labels", {}).get("networking.knative.dev/visibility") != "cluster-local"
    # Every Trigger to the function asks its dispatcher for a token of the audience the function checks.
    triggers = [t for t in find(objs, "Trigger") if t["spec"]["subscriber"]["ref"]["name"] == "emotivoice"]
    assert triggers and {t["spec"]["subscriber"].get("audience") for t in triggers} == {settings.event_audience}
    # The issuer keys come from the ConfigMap operators create (README), mounted where the setting points.
    assert settings.event_jwks is not None
    volume = mounted(svc, settings.event_jwks)
    assert volume["configMap"]["name"] == "emotivoice-event-jwks"
    assert [i["path"] for i in volume["configMap"]["items"]] == [Path(settings.event_jwks).name]
    # Only this namespace's Trigger OIDC service accounts, under both of Knative's naming schemes.
    patterns = [p.strip() for p in (settings.event_allowed_subjects or "").split(",")]
    for trigger in triggers:
        trigger_name = trigger["metadata"]["name"]
        for account in (f"oidc-eventing.knative.dev-trigger-{trigger_name}",  # eventing <= 1.13
                        f"{trigger_name}-oidc-eventing.knative.dev-trigger",  # later releases
                        "emotivoice-synthesis-requ1f0b8a5b2e8f6c0d3a4b5c6d7e8f9a0b-oidc-eventing.knative.dev-trigger"):
            subject = f"system:serviceaccount:{namespace}:{account}"
            assert any(fnmatch.fnmatchcase(subject, p) for p in patterns), subject
    for outsider in (f"system:serviceaccount:{namespace}:default", f"system:serviceaccount:{namespace}:emotivoice",
                     "system:serviceaccount:elsewhere:oidc-eventing.knative.dev-trigger-x"):
        assert not any(fnmatch.fnmatchcase(outsider, p) for p in patterns), outsider
    # Publishing to K_SINK carries a token for this namespace's Broker (the receiver requires one).
    assert settings.sink_token_file is not None
    broker = one(objs, "Broker")
    source = mounted(svc, str(settings.sink_token_file))["projected"]["sources"][0]["serviceAccountToken"]
    assert source["audience"] == f"eventing.knative.dev/broker/{namespace}/{broker['metadata']['name']}"
    assert source["path"] == settings.sink_token_file.name


def test_dev_leaves_events_open(need_kubectl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objs = render_overlay("dev")
    settings = settings_from(config_data(objs, ksvc(objs)), monkeypatch)
    assert settings.event_auth == "none" and settings.auth == "none"
    assert all("audience" not in t["spec"]["subscriber"] for t in find(objs, "Trigger"))


def test_publisher_sends_the_broker_token(tmp_path: Path) -> None:
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["content-length"]))
            seen.append(self.headers.get("authorization"))
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    broker = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=broker.serve_forever, daemon=True).start()
    token_file = tmp_path / "token"
    url = f"http://127.0.0.1:{broker.server_address[1]}/ns/emotivoice"

    async def publish_twice() -> None:
        publisher = Publisher(url, token_file=token_file)
        try:
            token_file.write_text("first-token\n")
            await publisher.publish(make_event("t", "/s", "1", {}))
            token_file.write_text("rotated-token")  # the kubelet refreshed it: the next publish uses it
            await publisher.publish(make_event("t", "/s", "2", {}))
            token_file.unlink()
            with pytest.raises(PublishFailed):
                await publisher.publish(make_event("t", "/s", "3", {}))
        finally:
            await publisher.close()

    try:
        asyncio.run(publish_twice())
    finally:
        broker.shutdown()
        broker.server_close()
    assert seen == ["Bearer first-token", "Bearer rotated-token"]
    assert Settings(sink_token_file=token_file).sink_token_file == token_file
