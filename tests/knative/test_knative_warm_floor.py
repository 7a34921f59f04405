"""The scheduled warm floor: CronJobs, their narrowly scoped RBAC, and the script they run (unit tests of
its plan, and an end-to-end run against a fake Kubernetes API on a loopback port)."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .kube import KNATIVE, find, ksvc, one, render_overlay

MIN_SCALE = "autoscaling.knative.dev/min-scale"
SCRIPT = KNATIVE / "components" / "warm-floor" / "warm_floor.py"


def load_script():
    spec = importlib.util.spec_from_file_location("warm_floor", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


wf = load_script()


def floor_arg(cronjob: dict) -> int:
    args = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    return int(args[args.index("--min-scale") + 1])


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_cronjobs_raise_then_restore_the_overlay_floor(need_kubectl, name):
    objs = render_overlay(name)
    svc = ksvc(objs)
    a = svc["spec"]["template"]["metadata"]["annotations"]
    raise_job = one(objs, "CronJob", "emotivoice-warm-floor-raise")
    lower_job = one(objs, "CronJob", "emotivoice-warm-floor-lower")
    assert floor_arg(lower_job) == int(a[MIN_SCALE]), "lower restores the manifest's floor"
    assert int(a[MIN_SCALE]) < floor_arg(raise_job) <= int(a["autoscaling.knative.dev/max-scale"])
    for job in (raise_job, lower_job):
        args = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--service") + 1] == svc["metadata"]["name"]
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "emotivoice-warm-floor"
        assert pod["securityContext"]["runAsNonRoot"] is True
        # The script is mounted from the generated ConfigMap (hash-suffixed name kept in sync).
        cm = pod["volumes"][0]["configMap"]["name"]
        assert one(objs, "ConfigMap", cm)["data"]["warm_floor.py"] == SCRIPT.read_text()


def test_dev_has_no_warm_floor(need_kubectl):
    objs = render_overlay("dev")
    assert not find(objs, "CronJob") and not find(objs, "Role")


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_rbac_allows_exactly_get_and_patch_on_this_one_service(need_kubectl, name):
    objs = render_overlay(name)
    svc = ksvc(objs)
    assert not find(objs, "ClusterRole") and not find(objs, "ClusterRoleBinding")
    role = one(objs, "Role", "emotivoice-warm-floor")
    assert role["rules"] == [
        {
            "apiGroups": ["serving.knative.dev"],
            "resources": ["services"],
            "resourceNames": [svc["metadata"]["name"]],
            "verbs": ["get", "patch"],
        }
    ]
    binding = one(objs, "RoleBinding", "emotivoice-warm-floor")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "emotivoice-warm-floor", "namespace": svc["metadata"]["namespace"]}
    ]
    one(objs, "ServiceAccount", "emotivoice-warm-floor")
    # The function's own account gets no API access at all.
    assert one(objs, "ServiceAccount", "emotivoice")["automountServiceAccountToken"] is False
    bound = {s["name"] for b in find(objs, "RoleBinding") for s in b["subjects"]}
    assert "emotivoice" not in bound


# --- the script's plan ----------------------------------------------------------------------------------


def a_ksvc(floor="2", traffic=None, latest="emotivoice-00003"):
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "emotivoice", "resourceVersion": "42", "generation": 3},
        "spec": {
            "template": {"metadata": {"annotations": {MIN_SCALE: floor}}, "spec": {"containers": [{"image": "x"}]}},
            **({"traffic": traffic} if traffic is not None else {}),
        },
        "status": {"latestReadyRevisionName": latest, "latestCreatedRevisionName": latest, "observedGeneration": 3},
    }


def apply_json_patch(doc: dict, ops: list[dict]) -> dict:
    """Enough RFC 6902 (test/add/replace on objects and list indexes) to check the script's patches."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        if op["op"] == "test":
            if parent[last] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif op["op"] in ("add", "replace"):
            if op["op"] == "replace" and (last not in parent if isinstance(parent, dict) else False):
                raise ValueError(f"replace of missing {op['path']}")
            parent[last] = op["value"]
        else:
            raise ValueError(op)
    return doc


def test_plan_latest_only_traffic_patches_the_template():
    svc = a_ksvc(traffic=[{"latestRevision": True, "percent": 100}])
    p = wf.plan(svc, 10)
    assert p.repin == []
    patched = apply_json_patch(svc, p.template_patch)
    assert patched["spec"]["template"]["metadata"]["annotations"][MIN_SCALE] == "10"


def test_plan_without_annotations_adds_them():
    svc = a_ksvc()
    del svc["spec"]["template"]["metadata"]
    patched = apply_json_patch(svc, wf.plan(svc, 5).template_patch)
    assert patched["spec"]["template"]["metadata"]["annotations"] == {MIN_SCALE: "5"}


def test_plan_is_a_no_op_at_the_requested_floor():
    assert wf.plan(a_ksvc(floor="10"), 10).template_patch == []


def test_plan_is_guarded_by_resource_version():
    svc = a_ksvc()
    ops = wf.plan(svc, 10).template_patch
    svc["metadata"]["resourceVersion"] = "43"  # someone changed it in between
    with pytest.raises(ValueError):
        apply_json_patch(svc, ops)


def test_plan_with_pinned_stable_repins_after_the_new_revision_is_ready():
    traffic = [
        {"tag": "stable", "revisionName": "emotivoice-00003", "percent": 90},
        {"tag": "canary", "latestRevision": True, "percent": 10},
    ]
    svc = a_ksvc(traffic=traffic)
    p = wf.plan(svc, 10)
    assert p.repin == [0] and p.old_revision == "emotivoice-00003"
    after = apply_json_patch(svc, p.template_patch)
    after["metadata"]["generation"] = 4
    assert wf.new_ready_revision(after, p.old_revision, 4) is None  # not reconciled yet
    after["status"].update(observedGeneration=4, latestCreatedRevisionName="emotivoice-00004")
    assert wf.new_ready_revision(after, p.old_revision, 4) is None  # created, not ready
    after["status"]["latestReadyRevisionName"] = "emotivoice-00004"
    assert wf.new_ready_revision(after, p.old_revision, 4) == "emotivoice-00004"
    final = apply_json_patch(after, wf.repin_patch(after, p.repin, p.old_revision, "emotivoice-00004"))
    assert final["spec"]["traffic"][0] == {"tag": "stable", "revisionName": "emotivoice-00004", "percent": 90}
    assert final["spec"]["traffic"][1] == traffic[1]


def test_plan_refuses_while_a_canary_is_in_flight():
    traffic = [
        {"tag": "stable", "revisionName": "emotivoice-00002", "percent": 90},
        {"tag": "canary", "latestRevision": True, "percent": 10},
    ]
    with pytest.raises(wf.CanaryInFlight):
        wf.plan(a_ksvc(traffic=traffic, latest="emotivoice-00003"), 10)


def test_plan_rejects_negative_floor():
    with pytest.raises(ValueError):
        wf.plan(a_ksvc(), -1)


# --- end to end against a fake API server ----------------------------------------------------------------


class FakeKnative:
    """A Service in memory behind the two API calls the script makes; a template change creates the next
    revision, which becomes ready on the second GET after it (like Knative reconciling)."""

    def __init__(self, svc: dict) -> None:
        self.svc = svc
        self.calls: list[tuple[str, str]] = []
        self.pending: str | None = None
        self.gets_until_ready = 0
        self.never_ready = False

    def handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.calls.append(("GET", self.path))
                if not self.path.endswith("/services/emotivoice"):
                    return self._reply(404, {"kind": "Status", "code": 404})
                if fake.pending and not fake.never_ready:
                    fake.gets_until_ready -= 1
                    if fake.gets_until_ready <= 0:
                        fake.svc["status"]["latestReadyRevisionName"] = fake.pending
                        fake.pending = None
                return self._reply(200, fake.svc)

            def do_PATCH(self):
                fake.calls.append(("PATCH", self.path))
                assert self.headers["Content-Type"] == "application/json-patch+json"
                assert self.headers["Authorization"] == "Bearer t0ken"
                ops = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    new = apply_json_patch(fake.svc, ops)
                except (ValueError, KeyError, IndexError):
                    return self._reply(422, {"kind": "Status", "code": 422})
                if new["spec"]["template"] != fake.svc["spec"]["template"]:
                    gen = new["metadata"]["generation"] + 1
                    rev = f"emotivoice-{gen:05d}"
                    new["metadata"]["generation"] = gen
                    new["status"].update(observedGeneration=gen, latestCreatedRevisionName=rev)
                    fake.pending, fake.gets_until_ready = rev, 2
                new["metadata"]["resourceVersion"] = str(int(new["metadata"]["resourceVersion"]) + 1)
                fake.svc = new
                return self._reply(200, new)

        return H


@pytest.fixture
def fake_api():
    servers = []

    def start(svc):
        fake = FakeKnative(svc)
        server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        api = wf.Api(f"http://127.0.0.1:{server.server_address[1]}", "t0ken", None)
        return fake, api

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_script_raises_floor_and_moves_stable_traffic(fake_api):
    traffic = [
        {"tag": "stable", "revisionName": "emotivoice-00003", "percent": 90},
        {"tag": "canary", "latestRevision": True, "percent": 10},
    ]
    fake, api = fake_api(a_ksvc(traffic=traffic))
    assert wf.run(api, "emotivoice", "emotivoice", 10, wait_seconds=10, poll_seconds=0.01) == 0
    svc = fake.svc
    assert svc["spec"]["template"]["metadata"]["annotations"][MIN_SCALE] == "10"
    assert svc["status"]["latestReadyRevisionName"] == "emotivoice-00004"
    assert svc["spec"]["traffic"][0]["revisionName"] == "emotivoice-00004"
    assert [c for c in fake.calls if c[0] == "PATCH"] == [
        ("PATCH", "/apis/serving.knative.dev/v1/namespaces/emotivoice/services/emotivoice")
    ] * 2


def test_script_refuses_during_canary_and_changes_nothing(fake_api, capsys):
    traffic = [
        {"tag": "stable", "revisionName": "emotivoice-00002", "percent": 90},
        {"tag": "canary", "latestRevision": True, "percent": 10},
    ]
    fake, api = fake_api(a_ksvc(traffic=traffic))
    before = copy.deepcopy(fake.svc)
    assert wf.run(api, "emotivoice", "emotivoice", 10, wait_seconds=1, poll_seconds=0.01) == 3
    assert fake.svc == before
    assert "canary is in flight" in capsys.readouterr().err


def test_script_times_out_if_the_revision_never_becomes_ready(fake_api, capsys):
    traffic = [{"tag": "stable", "revisionName": "emotivoice-00003", "percent": 100}]
    fake, api = fake_api(a_ksvc(traffic=traffic))
    fake.never_ready = True
    assert wf.run(api, "emotivoice", "emotivoice", 10, wait_seconds=0.2, poll_seconds=0.01) == 1
    assert fake.svc["spec"]["template"]["metadata"]["annotations"][MIN_SCALE] == "10"
    assert fake.svc["spec"]["traffic"][0]["revisionName"] == "emotivoice-00003", "no repin to an unready revision"
    assert "not ready" in capsys.readouterr().err


def test_script_reports_api_errors(fake_api):
    fake, api = fake_api(a_ksvc())
    with pytest.raises(Exception) as exc:
        wf.run(api, "emotivoice", "other-service", 10, wait_seconds=1, poll_seconds=0.01)
    assert "404" in str(exc.value)
