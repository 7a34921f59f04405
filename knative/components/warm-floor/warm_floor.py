#!/usr/bin/env python3
"""Raise or lower the min-scale floor of one Knative Service (run by the warm-floor CronJobs).

Standard library only (it runs in a plain python image) and talks to the Kubernetes API with the pod's
service-account token; RBAC lets that account get and patch exactly one Service.

Changing ``spec.template.metadata.annotations["autoscaling.knative.dev/min-scale"]`` creates a new
Revision (same image, new floor). Where the Service's traffic pins a stable revision (the 90/10 canary
layout of the production overlays) and no canary is in flight (the pinned revision is the latest ready
one), the new revision would only get the canary's 10 %, so after it is ready the script moves the pinned
entries to it: the floor then covers all traffic. While a canary *is* in flight (the latest revision
differs from the pinned one), a template change would replace the canary, so the script refuses and
exits 3: finish or roll back the canary before a planned peak.

Exit codes: 0 done (or nothing to do), 1 API error/timeout, 2 usage, 3 canary in flight.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

MIN_SCALE = "autoscaling.knative.dev/min-scale"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class CanaryInFlight(Exception):
    """A canary revision is receiving traffic; changing the template would replace it."""


@dataclass
class Plan:
    template_patch: list[dict] = field(default_factory=list)  # JSON patch ops, empty = floor unchanged
    repin: list[int] = field(default_factory=list)  # indexes of spec.traffic entries pinned to a revision
    old_revision: str | None = None  # the latest ready revision before the change


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def plan(ksvc: dict, floor: int) -> Plan:
    """What to change on ``ksvc`` (a serving.knative.dev/v1 Service as read from the API) for ``floor``."""
    if floor < 0:
        raise ValueError("min-scale must be >= 0")
    spec = ksvc.get("spec", {})
    status = ksvc.get("status", {})
    traffic = spec.get("traffic") or []
    latest_ready = status.get("latestReadyRevisionName")
    pinned = [i for i, t in enumerate(traffic) if t.get("revisionName")]
    stale = sorted({traffic[i]["revisionName"] for i in pinned} - {latest_ready})
    if stale:
        raise CanaryInFlight(
            f"traffic pins {', '.join(stale)} but the latest ready revision is {latest_ready}: "
            "a canary is in flight; promote or roll it back before changing the floor"
        )
    tmeta = spec.get("template", {}).get("metadata", {})
    annotations = tmeta.get("annotations")
    if annotations is not None and annotations.get(MIN_SCALE) == str(floor):
        return Plan(old_revision=latest_ready)
    ops: list[dict] = [
        # Optimistic concurrency: the patch fails if the Service changed since it was read.
        {"op": "test", "path": "/metadata/resourceVersion", "value": ksvc["metadata"]["resourceVersion"]},
    ]
    if "metadata" not in spec.get("template", {}):
        ops.append({"op": "add", "path": "/spec/template/metadata", "value": {}})
    if annotations is None:
        ops.append({"op": "add", "path": "/spec/template/metadata/annotations", "value": {}})
    ops.append({"op": "add", "path": f"/spec/template/metadata/annotations/{_escape(MIN_SCALE)}", "value": str(floor)})
    return Plan(template_patch=ops, repin=pinned, old_revision=latest_ready)


def new_ready_revision(ksvc: dict, old_revision: str | None, generation: int) -> str | None:
    """The revision created by our patch once Knative reports it ready, else None."""
    status = ksvc.get("status", {})
    if status.get("observedGeneration", 0) < generation:
        return None
    created = status.get("latestCreatedRevisionName")
    ready = status.get("latestReadyRevisionName")
    if not created or created != ready or ready == old_revision:
        return None
    return ready


def repin_patch(ksvc: dict, indexes: list[int], old: str, new: str) -> list[dict]:
    ops: list[dict] = []
    for i in indexes:
        path = f"/spec/traffic/{i}/revisionName"
        ops += [{"op": "test", "path": path, "value": old}, {"op": "replace", "path": path, "value": new}]
    return ops


class Api:
    def __init__(self, base_url: str, token: str | None, context: ssl.SSLContext | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.context = context

    def _call(self, method: str, path: str, body: object | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if body is not None:
            req.add_header("Content-Type", "application/json-patch+json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, context=self.context, timeout=30) as resp:
            return json.load(resp)

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def patch(self, path: str, ops: list[dict]) -> dict:
        return self._call("PATCH", path, ops)


def in_cluster_api() -> tuple[Api, str]:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    with open(f"{SA_DIR}/token") as f:
        token = f.read().strip()
    with open(f"{SA_DIR}/namespace") as f:
        namespace = f.read().strip()
    context = ssl.create_default_context(cafile=f"{SA_DIR}/ca.crt")
    return Api(f"https://{host}:{port}", token, context), namespace


def run(api: Api, namespace: str, service: str, floor: int, wait_seconds: float, poll_seconds: float) -> int:
    path = f"/apis/serving.knative.dev/v1/namespaces/{namespace}/services/{service}"
    ksvc = api.get(path)
    try:
        p = plan(ksvc, floor)
    except CanaryInFlight as exc:
        print(f"warm-floor: refusing: {exc}", file=sys.stderr)
        return 3
    if not p.template_patch:
        print(f"warm-floor: {service} already has min-scale {floor}; nothing to do")
        return 0
    patched = api.patch(path, p.template_patch)
    generation = patched["metadata"]["generation"]
    print(f"warm-floor: set min-scale {floor} on {service} (generation {generation})")
    if not p.repin:
        return 0
    deadline = time.monotonic() + wait_seconds
    while True:
        current = api.get(path)
        new = new_ready_revision(current, p.old_revision, generation)
        if new:
            break
        if time.monotonic() > deadline:
            print(f"warm-floor: the new revision was not ready within {wait_seconds:.0f} s", file=sys.stderr)
            return 1
        time.sleep(poll_seconds)
    api.patch(path, repin_patch(current, p.repin, p.old_revision, new))
    print(f"warm-floor: moved pinned traffic from {p.old_revision} to {new}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--service", required=True)
    ap.add_argument("--min-scale", type=int, required=True)
    ap.add_argument("--wait-seconds", type=float, default=600)
    ap.add_argument("--poll-seconds", type=float, default=5)
    args = ap.parse_args(argv)
    if args.min_scale < 0:
        ap.error("--min-scale must be >= 0")
    try:
        api, namespace = in_cluster_api()
        return run(api, namespace, args.service, args.min_scale, args.wait_seconds, args.poll_seconds)
    except (urllib.error.URLError, OSError, KeyError) as exc:
        print(f"warm-floor: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
