"""func.yaml (Knative func's project file) is schema-valid and deploys the same Service as overlays/cpu."""

from __future__ import annotations

import json

import pytest
import yaml

from .kube import CRDS, REPO, config_data, ksvc, render_overlay

A = "autoscaling.knative.dev/"


@pytest.fixture(scope="module")
def func() -> dict:
    return yaml.safe_load((REPO / "func.yaml").read_text())


def schema_errors(doc: dict) -> list[str]:
    import jsonschema

    schema = json.loads((CRDS / "func_yaml-schema.json").read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def as_json_types(doc: dict) -> dict:
    # YAML reads `created: 2025-01-01T00:00:00Z` as a datetime; func reads it as an RFC 3339 string.
    return json.loads(json.dumps(doc, default=lambda v: v.isoformat().replace("+00:00", "Z")))


def test_func_yaml_matches_schema(func, need_crds):
    assert schema_errors(as_json_types(func)) == []


def test_func_yaml_schema_rejects_mistakes(func, need_crds):
    doc = as_json_types(func)
    doc["deploy"]["options"]["scale"]["utilisation"] = 80
    assert schema_errors(doc)
    doc = as_json_types(func)
    doc["deploy"]["options"]["scale"]["utilization"] = 120
    assert schema_errors(doc)


def test_func_yaml_agrees_with_the_cpu_overlay(func, need_kubectl):
    objs = render_overlay("cpu")
    svc = ksvc(objs)
    tmpl = svc["spec"]["template"]
    a = tmpl["metadata"]["annotations"]
    container = tmpl["spec"]["containers"][0]
    assert func["name"] == svc["metadata"]["name"]
    assert func["namespace"] == func["deploy"]["namespace"] == svc["metadata"]["namespace"]
    assert func["image"] == func["deploy"]["image"] == container["image"]
    assert func["deploy"]["serviceAccountName"] == tmpl["spec"]["serviceAccountName"]
    scale = func["deploy"]["options"]["scale"]
    assert scale["min"] == int(a[A + "min-scale"])
    assert scale["max"] == int(a[A + "max-scale"])
    assert scale["metric"] == a[A + "metric"]
    assert scale["target"] == float(a[A + "target"])
    assert scale["utilization"] == float(a[A + "target-utilization-percentage"])
    for key, value in func["deploy"]["annotations"].items():
        assert a[key] == value, key
    covered = {A + k for k in ("min-scale", "max-scale", "metric", "target", "target-utilization-percentage")}
    assert set(k for k in a if k.startswith(A)) == covered | set(func["deploy"]["annotations"])
    res = func["deploy"]["options"]["resources"]
    assert res["limits"]["concurrency"] == tmpl["spec"]["containerConcurrency"]
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            assert res[kind][r] == container["resources"][kind][r], (kind, r)
    health = func["deploy"]["healthEndpoints"]
    assert health["liveness"] == container["livenessProbe"]["httpGet"]["path"]
    assert health["readiness"] == container["readinessProbe"]["httpGet"]["path"]
    envs = {e["name"]: e["value"] for e in func["run"]["envs"] if "name" in e}
    assert envs == config_data(objs, svc)
    secrets = {e["value"] for e in func["run"]["envs"] if "name" not in e}
    refs = {f"{{{{ secret:{e['secretRef']['name']} }}}}" for e in container["envFrom"] if "secretRef" in e}
    assert secrets == refs
    # func.yaml volumes are secret, configMap, PVC or emptyDir: it cannot project a service-account token
    # (the cpu overlay's Broker token, components/event-auth); the README says so.
    projected_tokens = {v["name"] for v in tmpl["spec"]["volumes"]
                        if any("serviceAccountToken" in s for s in v.get("projected", {}).get("sources", []))}
    mounts = {m["mountPath"] for m in container["volumeMounts"] if m["name"] not in projected_tokens}
    assert {v["path"] for v in func["run"]["volumes"]} == mounts


def test_no_func_subscriptions(func):
    """Triggers come from knative/ (kustomize); func's subscriptions would duplicate every delivery."""
    assert "subscriptions" not in func["deploy"]
