"""The Knative Service in each overlay: Knative's annotation/field ranges, and the project's invariants."""

from __future__ import annotations

import copy

import pytest
import yaml

from function.settings import Settings

from .kube import KNATIVE, config_data, example_keys, find, ksvc, one, parse_go_duration, upstream_configmap
from .rules import (
    autoscaling_errors,
    container_errors,
    pod_feature_errors,
    revision_spec_errors,
    traffic_errors,
)

A = "autoscaling.knative.dev/"
# Inputs of the timeout budget (facts fixed by the lead): eager cold start ~10-20 s, synthesis of the
# largest accepted input (4096 chars) on 2 CPU cores ~60-120 s.
COLD_START_EAGER_S = 20
MAX_SYNTHESIS_S = 120
# Knative injects K_SINK (Settings reads it through an alias).
FUTURE_ENV = {"K_SINK"}
# What the pod's envFrom gets from the Secrets at run time (the documented example Secrets).
SECRET_ENV = {
    key: value
    for doc in yaml.safe_load_all((KNATIVE / "secrets.example.yaml").read_text())
    if doc
    for key, value in doc.get("stringData", {}).items()
}


def settings_from(data: dict[str, str], monkeypatch) -> Settings:
    """Settings as the container would build them: the rendered ConfigMap plus the Secrets' keys."""
    for key in [k for k in __import__("os").environ if k.startswith(("EMOTIVOICE_", "AWS_"))]:
        monkeypatch.delenv(key)
    for key, value in {**SECRET_ENV, **data}.items():
        monkeypatch.setenv(key, value)
    return Settings()


def annotations(svc: dict) -> dict[str, str]:
    return svc["spec"]["template"]["metadata"]["annotations"]


def cluster_flags(name: str) -> set[str]:
    path = KNATIVE / "overlays" / name / "cluster" / "config-features-patch.yaml"
    if not path.exists():
        return set()
    data = yaml.safe_load(path.read_text())["data"]
    return {k for k, v in data.items() if v in ("enabled", "allowed")}


def test_autoscaling_annotations_within_knative_ranges(overlay):
    name, objs = overlay
    svc = ksvc(objs)
    cc = svc["spec"]["template"]["spec"]["containerConcurrency"]
    assert autoscaling_errors(annotations(svc), cc) == [], name


def test_kpa_on_concurrency(overlay):
    _, objs = overlay
    a = annotations(ksvc(objs))
    assert a[A + "class"] == "kpa.autoscaling.knative.dev"
    assert a[A + "metric"] == "concurrency"


def test_every_autoscaling_setting_is_explicit(overlay):
    _, objs = overlay
    a = annotations(ksvc(objs))
    for key in ("target", "target-utilization-percentage", "window", "panic-window-percentage",
                "panic-threshold-percentage", "min-scale", "max-scale", "initial-scale", "activation-scale",
                "scale-down-delay"):
        assert A + key in a, key


def test_revision_fields_within_knative_ranges(overlay):
    name, objs = overlay
    assert revision_spec_errors(ksvc(objs)["spec"]["template"]["spec"]) == [], name


def test_container_concurrency_equals_the_functions_queue_bound(overlay, monkeypatch):
    name, objs = overlay
    svc = ksvc(objs)
    settings = settings_from(config_data(objs, svc), monkeypatch)
    assert svc["spec"]["template"]["spec"]["containerConcurrency"] == settings.workers + settings.queue_size, name


def test_target_is_at_most_the_worker_count(overlay, monkeypatch):
    """Aim the autoscaler at what a pod synthesises at once; queue slots are burst headroom."""
    name, objs = overlay
    svc = ksvc(objs)
    settings = settings_from(config_data(objs, svc), monkeypatch)
    a = annotations(svc)
    effective = float(a[A + "target"]) * float(a[A + "target-utilization-percentage"]) / 100
    assert 0 < effective <= settings.workers, (name, effective)
    panic_at = effective * float(a[A + "panic-threshold-percentage"]) / 100
    assert panic_at < settings.workers + settings.queue_size, "panic must start before pods reject"


def test_timeouts_cover_cold_start_queue_and_largest_synthesis(overlay, monkeypatch):
    name, objs = overlay
    svc = ksvc(objs)
    spec = svc["spec"]["template"]["spec"]
    settings = settings_from(config_data(objs, svc), monkeypatch)
    assert settings.max_input_chars <= 4096, "the synthesis budget below is for 4096 characters"
    first_byte = COLD_START_EAGER_S + settings.queue_timeout_seconds + MAX_SYNTHESIS_S
    # Knative fires the idle timeout before the first byte too, so both must cover it.
    assert spec["responseStartTimeoutSeconds"] >= first_byte, name
    assert spec["idleTimeoutSeconds"] >= first_byte, name
    assert spec["timeoutSeconds"] >= spec["responseStartTimeoutSeconds"]


def test_drain_fits_in_the_termination_grace(overlay, monkeypatch):
    """Knative sets terminationGracePeriodSeconds to the revision's timeoutSeconds; on SIGTERM the function
    drains for up to EMOTIVOICE_REQUEST_TIMEOUT_SECONDS, then flushes open responses: that must fit before
    the kubelet's SIGKILL, and every request the revision lets run must fit in the drain."""
    from function.http.server import FLUSH_SECONDS

    name, objs = overlay
    svc = ksvc(objs)
    spec = svc["spec"]["template"]["spec"]
    settings = settings_from(config_data(objs, svc), monkeypatch)
    grace = spec.get("terminationGracePeriodSeconds", spec["timeoutSeconds"])
    assert settings.request_timeout_seconds + FLUSH_SECONDS <= grace, name
    assert settings.request_timeout_seconds >= COLD_START_EAGER_S + settings.queue_timeout_seconds + MAX_SYNTHESIS_S, name


def test_function_container(overlay):
    name, objs = overlay
    svc = ksvc(objs)
    containers = svc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    assert container_errors(containers[0]) == [], name
    assert containers[0]["image"].startswith("ghcr.io/emotivoice-serverless/emotivoice:")


def test_pod_fields_need_enabled_feature_flags(overlay, need_crds):
    name, objs = overlay
    flags = cluster_flags(name)
    upstream = example_keys(upstream_configmap("config-features"))
    assert flags <= upstream, f"unknown config-features keys {flags - upstream}"
    assert pod_feature_errors(ksvc(objs)["spec"]["template"]["spec"], flags) == [], name


def test_environment_keys_are_settings_the_function_reads(overlay, monkeypatch):
    name, objs = overlay
    svc = ksvc(objs)
    data = config_data(objs, svc)
    known = {f"EMOTIVOICE_{f.upper()}" for f in Settings.model_fields} | FUTURE_ENV
    assert set(data) - known == set(), name
    settings = settings_from(data, monkeypatch)  # values parse as the function parses them
    assert settings.log_format in ("json", "text")


def test_k_sink_points_at_this_namespaces_broker_ingress(overlay):
    _, objs = overlay
    svc = ksvc(objs)
    broker = one(objs, "Broker")
    expected = (
        "http://kafka-broker-ingress.knative-eventing.svc.cluster.local/"
        f"{broker['metadata']['namespace']}/{broker['metadata']['name']}"
    )
    assert config_data(objs, svc)["K_SINK"] == expected


def test_secrets_for_s3_and_auth(overlay):
    name, objs = overlay
    env_from = ksvc(objs)["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    secrets = {e["secretRef"]["name"]: e["secretRef"].get("optional", False) for e in env_from if "secretRef" in e}
    assert set(secrets) == {"emotivoice-s3", "emotivoice-auth"}
    data = config_data(objs, ksvc(objs))
    if data["EMOTIVOICE_STORAGE"] == "s3" or data["EMOTIVOICE_AUTH"] == "jwt":
        assert not any(secrets.values()), f"{name}: secrets must be required where S3/JWT are on"


def test_scale_profile_per_overlay(need_kubectl):
    from .kube import render_overlay

    dev = annotations(ksvc(render_overlay("dev")))
    assert dev[A + "min-scale"] == "0", "dev scales to zero"
    assert parse_go_duration(dev[A + "scale-down-delay"]) == 0
    for name in ("cpu", "gpu"):
        a = annotations(ksvc(render_overlay(name)))
        assert int(a[A + "min-scale"]) >= 1, f"{name}: production keeps a warm floor"
        assert int(a[A + "initial-scale"]) >= int(a[A + "min-scale"])
        assert parse_go_duration(a[A + "scale-down-delay"]) >= 300, f"{name}: delay for bursty campaigns"


def test_canary_at_ten_percent_in_production(need_kubectl):
    from .kube import render_overlay

    for name in ("cpu", "gpu"):
        traffic = ksvc(render_overlay(name))["spec"]["traffic"]
        assert traffic_errors(traffic) == [], name
        canary = [t for t in traffic if t.get("tag") == "canary"]
        assert len(canary) == 1 and canary[0]["percent"] == 10 and canary[0].get("latestRevision") is True
        stable = [t for t in traffic if t.get("tag") == "stable"]
        assert len(stable) == 1 and stable[0]["percent"] == 90 and stable[0]["revisionName"].startswith("emotivoice-")
    assert "traffic" not in ksvc(render_overlay("dev"))["spec"]


def test_gpu_overlay(need_kubectl):
    from .kube import render_overlay

    objs = render_overlay("gpu")
    spec = ksvc(objs)["spec"]["template"]["spec"]
    res = spec["containers"][0]["resources"]
    assert res["limits"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"] and spec["tolerations"]
    assert {"kubernetes.podspec-nodeselector", "kubernetes.podspec-tolerations"} <= cluster_flags("gpu")
    assert ksvc(objs)["spec"]["template"]["spec"]["containers"][0]["image"].endswith("-gpu")
    for name in ("cpu", "dev"):
        other = ksvc(render_overlay(name))["spec"]["template"]["spec"]
        assert "nvidia.com/gpu" not in other["containers"][0]["resources"]["limits"]
        assert "nodeSelector" not in other and "tolerations" not in other


def test_planner_patch_target_is_stable(base_objs):
    """The planner's kustomize patch names serving.knative.dev/v1 Service "emotivoice"; keep it so."""
    svc = one(base_objs, "Service", "emotivoice")
    assert svc["apiVersion"] == "serving.knative.dev/v1"
    assert find(base_objs, "Service", "emotivoice", api_group="serving.knative.dev")


# --- the rules reject what Knative's webhook would reject --------------------------------------------


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("activation-scale", "1", "activation-scale"),
        ("window", "5s", "window"),
        ("window", "2h", "window"),
        ("window", "60", "Go duration"),
        ("panic-threshold-percentage", "100", "panic-threshold"),
        ("panic-threshold-percentage", "1001", "panic-threshold"),
        ("target-utilization-percentage", "0", "target-utilization"),
        ("target-utilization-percentage", "101", "target-utilization"),
        ("scale-down-delay", "2h", "scale-down-delay"),
        ("min-scale", "50", "min-scale"),
        ("initial-scale", "0", "initial-scale"),
        ("target", "9", "containerConcurrency"),
        ("metric", "cpu", "metric"),
        ("minScale", "1", "unknown"),
        ("max-scale", "x", "integer"),
    ],
)
def test_autoscaling_rules_reject(key, value, needle):
    good = {
        A + "class": "kpa.autoscaling.knative.dev", A + "metric": "concurrency", A + "target": "2",
        A + "target-utilization-percentage": "80", A + "window": "60s", A + "panic-window-percentage": "10",
        A + "panic-threshold-percentage": "200", A + "min-scale": "2", A + "max-scale": "40",
        A + "initial-scale": "2", A + "activation-scale": "2", A + "scale-down-delay": "10m",
    }
    assert autoscaling_errors(good, 8) == []
    bad = dict(good, **{A + key: value})
    errors = autoscaling_errors(bad, 8)
    assert errors and any(needle in e for e in errors), errors


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("containerConcurrency", 1001, "containerConcurrency"),
        ("timeoutSeconds", 601, "timeoutSeconds"),
        ("responseStartTimeoutSeconds", 700, "responseStartTimeoutSeconds"),
        ("idleTimeoutSeconds", 0, "idleTimeoutSeconds"),
    ],
)
def test_revision_rules_reject(field, value, needle):
    good = {"containerConcurrency": 8, "timeoutSeconds": 600, "responseStartTimeoutSeconds": 300, "idleTimeoutSeconds": 300}
    assert revision_spec_errors(good) == []
    errors = revision_spec_errors(dict(good, **{field: value}))
    assert errors and any(needle in e for e in errors), errors


def test_container_rules_reject(need_kubectl):
    from .kube import render_overlay

    c = ksvc(render_overlay("cpu"))["spec"]["template"]["spec"]["containers"][0]
    for mutate, needle in [
        (lambda c: c["startupProbe"]["httpGet"].pop("port"), "explicitly"),
        (lambda c: c["livenessProbe"]["httpGet"].__setitem__("path", "/healthz"), "livenessProbe"),
        (lambda c: c["readinessProbe"]["httpGet"].__setitem__("port", 9090), "not the container port"),
        (lambda c: c["securityContext"].__setitem__("runAsNonRoot", False), "runAsNonRoot"),
        (lambda c: c.pop("resources"), "resources"),
        (lambda c: c["ports"][0].__setitem__("containerPort", 80), "8080"),
    ]:
        broken = copy.deepcopy(c)
        mutate(broken)
        errors = container_errors(broken)
        assert any(needle in e for e in errors), (needle, errors)


def test_feature_rules_reject():
    spec = {"containers": [{"name": "x"}], "nodeSelector": {"a": "b"}}
    assert pod_feature_errors(spec, set())
    assert pod_feature_errors(spec, {"kubernetes.podspec-nodeselector"}) == []
    assert pod_feature_errors({"containers": [{"name": "x", "securityContext": {"privileged": True}}]}, set())
    assert pod_feature_errors({"containers": [], "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}, set())


def test_traffic_rules_reject():
    assert traffic_errors([{"latestRevision": True, "percent": 90}, {"revisionName": "a", "percent": 20}])
    assert traffic_errors([{"latestRevision": True, "percent": 100, "tag": "a"}, {"revisionName": "b", "percent": 0, "tag": "a"}])
    assert traffic_errors([{"latestRevision": True, "revisionName": "a", "percent": 100}])


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_a_planner_patch_applies_and_wins(need_kubectl, tmp_path, name):
    """The planner's output (a strategic-merge patch on serving.knative.dev/v1 Service emotivoice, written
    to overlays/<name>/planner-patch.yaml, owning target, target-utilization, min- and max-scale) changes
    exactly those annotations and nothing else."""
    import shutil

    from .kube import render, render_overlay

    tree = tmp_path / "knative"
    shutil.copytree(KNATIVE, tree)
    before = ksvc(render_overlay(name))
    (tree / "overlays" / name / "planner-patch.yaml").write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: emotivoice\nspec:\n  template:\n"
        "    metadata:\n      annotations:\n        autoscaling.knative.dev/target: \"1.5\"\n"
        "        autoscaling.knative.dev/target-utilization-percentage: \"70\"\n"
        "        autoscaling.knative.dev/min-scale: \"3\"\n"
        "        autoscaling.knative.dev/max-scale: \"25\"\n"
    )
    after = ksvc(render(tree / "overlays" / name))  # rendered once: render() caches per path
    a_before, a_after = annotations(before), annotations(after)
    planned = ("target", "target-utilization-percentage", "min-scale", "max-scale")
    assert tuple(a_after[A + k] for k in planned) == ("1.5", "70", "3", "25")
    changed = {k for k in a_after if a_after[k] != a_before.get(k)}
    assert changed == {A + k for k in planned}
    assert after["spec"]["template"]["spec"] == before["spec"]["template"]["spec"]
    assert autoscaling_errors(a_after, after["spec"]["template"]["spec"]["containerConcurrency"]) == []


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_the_planners_own_patch_round_trips(need_kubectl, tmp_path, name, monkeypatch):
    """`emotivoice-fn plan` reads the deployed Service and writes a kustomize patch; dropping that patch
    in as planner-patch.yaml must render a Service that still passes every Knative rule here."""
    import shutil

    try:
        from planner.knative_config import kustomize_patch, load_kpa_config
    except ImportError as exc:
        pytest.skip(f"planner not importable: {exc}")
    from .kube import render, render_overlay

    objs = render_overlay(name)
    deployed = tmp_path / "deployed.yaml"
    deployed.write_text(yaml.safe_dump(ksvc(objs)))
    cfg = load_kpa_config(deployed)
    tree = tmp_path / "knative"
    shutil.copytree(KNATIVE, tree)
    (tree / "overlays" / name / "planner-patch.yaml").write_text(kustomize_patch(cfg, comment="round trip"))
    rendered = render(tree / "overlays" / name)
    svc = ksvc(rendered)
    spec = svc["spec"]["template"]["spec"]
    assert autoscaling_errors(annotations(svc), spec["containerConcurrency"]) == []
    settings = settings_from(config_data(rendered, svc), monkeypatch)
    assert spec["containerConcurrency"] == settings.workers + settings.queue_size
    for key in ("target", "target-utilization-percentage", "min-scale", "max-scale"):
        assert float(annotations(svc)[A + key]) == float(annotations(ksvc(objs))[A + key]), key
