"""Every rendered object against its schema: Knative/Eventing CRDs (strict), core kinds with
kubernetes-validate, the Service's pod template as a core PodTemplate, metadata as ObjectMeta."""

from __future__ import annotations

import copy

import pytest

from .kube import (
    CLOSED_DESPITE_PRESERVE,
    KNATIVE,
    OVERLAYS,
    core_errors,
    crd_errors,
    crds,
    dump,
    group_of,
    ksvc,
    metadata_errors,
    one,
    pod_template_of_ksvc,
    preserve_nodes_with_properties,
    render,
    render_overlay,
)

CRD_GROUPS = {"serving.knative.dev", "eventing.knative.dev", "sources.knative.dev", "messaging.knative.dev"}
CORE = {
    ("", "ConfigMap"), ("", "ServiceAccount"), ("", "Secret"),
    ("batch", "CronJob"), ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "RoleBinding"),
}
OPERATOR = {("monitoring.coreos.com", "PodMonitor"), ("monitoring.coreos.com", "PrometheusRule")}


def test_every_overlay_renders(overlay):
    name, objs = overlay
    assert objs, f"{name} rendered nothing"
    svc = ksvc(objs)
    assert svc["metadata"]["namespace"], "overlays set a namespace"
    assert {o["metadata"].get("namespace") for o in objs} == {svc["metadata"]["namespace"]}


def test_base_is_namespace_agnostic(base_objs):
    assert all("namespace" not in o["metadata"] for o in base_objs)
    one(base_objs, "Service", "emotivoice", api_group="serving.knative.dev")


def test_only_expected_kinds(overlay):
    name, objs = overlay
    for o in objs:
        key = (group_of(o), o["kind"])
        assert key[0] in CRD_GROUPS or key in CORE or key in OPERATOR, f"{name}: unexpected kind {key}"


def test_knative_objects_match_crd_schemas_strictly(overlay, need_crds):
    name, objs = overlay
    checked = 0
    for o in objs:
        if group_of(o) in CRD_GROUPS:
            errors = crd_errors(o)
            assert not errors, f"{name} {o['kind']}/{o['metadata']['name']}:\n" + "\n".join(errors)
            checked += 1
    assert checked >= 5


def test_core_objects_with_kubernetes_validate(overlay):
    name, objs = overlay
    checked = 0
    for o in objs:
        if (group_of(o), o["kind"]) in CORE:
            errors = core_errors(o)
            assert not errors, f"{name} {o['kind']}/{o['metadata']['name']}: {errors}"
            checked += 1
    assert checked >= 2


def test_metadata_of_every_object_is_valid_objectmeta(overlay):
    name, objs = overlay
    for o in objs:
        errors = metadata_errors(o)
        assert not errors, f"{name} {o['kind']}/{o['metadata']['name']}: {errors}"


def test_service_pod_template_is_a_valid_core_pod_template(overlay):
    name, objs = overlay
    errors = core_errors(pod_template_of_ksvc(ksvc(objs)))
    assert not errors, f"{name}: {errors}"


def test_secret_example_is_valid():
    import yaml

    docs = [d for d in yaml.safe_load_all((KNATIVE / "secrets.example.yaml").read_text()) if d]
    assert {d["metadata"]["name"] for d in docs} == {"emotivoice-s3", "emotivoice-auth"}
    for d in docs:
        assert not core_errors(d), core_errors(d)


# --- the validators themselves fail on broken input -------------------------------------------------


@pytest.mark.parametrize(
    "kind,mutate,needle",
    [
        ("Service", lambda o: o["spec"]["template"]["spec"].__setitem__("containerConcurency", 8), "containerConcurency"),
        ("Service", lambda o: o["spec"]["template"]["metadata"].__setitem__("anotations", {}), "anotations"),
        ("Service", lambda o: o["spec"]["template"]["spec"].__setitem__("containerConcurrency", "8"), "not of type"),
        ("Service", lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("imagePullPolicy", 1), "not of type"),
        ("Service", lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("lifecycle", {}), "lifecycle"),
        ("Service", lambda o: o.__setitem__("status", {}), "status"),
        ("Trigger", lambda o: o["spec"].__setitem__("filtr", {}), "filtr"),
        ("Trigger", lambda o: o["spec"]["delivery"].__setitem__("retries", 3), "retries"),
        ("Broker", lambda o: o["spec"]["delivery"].__setitem__("backoff", "PT1S"), "backoff"),
        ("KafkaSink", lambda o: o["spec"].pop("topic"), "topic"),
        ("KafkaSink", lambda o: o["spec"].__setitem__("contentMode", "json"), "json"),
    ],
)
def test_strict_crd_validation_rejects_mistakes(need_crds, need_kubectl, kind, mutate, needle):
    objs = render_overlay("cpu")
    candidates = [o for o in objs if o["kind"] == kind and (kind != "Trigger" or "delivery" in o["spec"])]
    obj = copy.deepcopy(candidates[0])
    assert not crd_errors(obj)
    mutate(obj)
    errors = crd_errors(obj)
    assert errors and any(needle in e for e in errors), errors


def test_unknown_kind_version_is_an_error(need_crds):
    assert crd_errors({"apiVersion": "serving.knative.dev/v9", "kind": "Service", "metadata": {"name": "x"}})


def test_closed_preserve_nodes_match_upstream(need_crds):
    """CLOSED_DESPITE_PRESERVE lists exactly the typed nodes upstream marks preserve-unknown-fields in the
    kinds it covers, so an upstream schema change that adds or moves one is noticed here."""
    for kind in {k for k, _ in CLOSED_DESPITE_PRESERVE}:
        schemas = [s for (g, v, k), s in crds().items() if k == kind]
        assert schemas, kind
        found = set().union(*(preserve_nodes_with_properties(s) for s in schemas))
        found = {p for p in found if not p.startswith("/status")}
        assert found == {p for k, p in CLOSED_DESPITE_PRESERVE if k == kind}, (kind, found)


def test_kubernetes_validate_rejects_unknown_fields():
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dta": {}}
    assert core_errors(bad)


def test_pod_template_check_catches_bad_container(need_kubectl):
    svc = copy.deepcopy(ksvc(render_overlay("cpu")))
    svc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = ["2"]
    assert core_errors(pod_template_of_ksvc(svc)), dump(svc)
