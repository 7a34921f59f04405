"""Explicit rules for what the CRD schemas do not check: Knative's admission-webhook ranges for the
annotations and fields this project sets, plus the project's own invariants (concurrency bound equals
the function's queue bound, timeouts cover the largest input, loop-free event routing...).

Each function returns a list of error strings (empty = valid), so tests can also feed it broken
manifests and check that it complains.
"""

from __future__ import annotations

import math

from .kube import parse_go_duration, parse_iso8601_duration

AUTOSCALING = "autoscaling.knative.dev/"

# Knative Serving's annotation semantics (pkg/apis/autoscaling/annotation_validation.go, config-defaults).
KPA = "kpa.autoscaling.knative.dev"
HPA = "hpa.autoscaling.knative.dev"
MAX_REVISION_TIMEOUT_SECONDS = 600  # config-defaults max-revision-timeout-seconds default
CONTAINER_CONCURRENCY_MAX = 1000  # config-defaults container-concurrency-max-limit default


def _int(value: str, key: str, errors: list[str]) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.append(f"{key}={value!r}: not an integer")
        return None


def _float(value: str, key: str, errors: list[str]) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        errors.append(f"{key}={value!r}: not a number")
        return None
    if not math.isfinite(v):
        errors.append(f"{key}={value!r}: not finite")
        return None
    return v


def _range(v: float | None, lo: float, hi: float, key: str, errors: list[str]) -> None:
    if v is not None and not (lo <= v <= hi):
        errors.append(f"{key}={v}: outside {lo}..{hi}")


def _duration(value: str, key: str, lo: float, hi: float, errors: list[str], whole: bool = False) -> float | None:
    try:
        seconds = parse_go_duration(value)
    except ValueError as exc:
        errors.append(f"{key}: {exc}")
        return None
    if whole and seconds != int(seconds):
        errors.append(f"{key}={value}: must be whole seconds")
    _range(seconds, lo, hi, key, errors)
    return seconds


KNOWN_AUTOSCALING = {
    "class", "metric", "target", "target-utilization-percentage", "window", "panic-window-percentage",
    "panic-threshold-percentage", "min-scale", "max-scale", "initial-scale", "activation-scale",
    "scale-down-delay", "target-burst-capacity", "scale-to-zero-pod-retention-period",
}


def autoscaling_errors(annotations: dict[str, str], container_concurrency: int) -> list[str]:
    errors: list[str] = []
    a = {k[len(AUTOSCALING):]: v for k, v in annotations.items() if k.startswith(AUTOSCALING)}
    for key in a:
        if key not in KNOWN_AUTOSCALING:
            errors.append(f"{AUTOSCALING}{key}: unknown autoscaling annotation (misspelled?)")
    cls = a.get("class", KPA)
    if cls not in (KPA, HPA):
        errors.append(f"class={cls!r}: not kpa/hpa")
    metric = a.get("metric", "concurrency")
    allowed_metrics = ("concurrency", "rps") if cls == KPA else ("cpu", "memory")
    if metric not in allowed_metrics:
        errors.append(f"metric={metric!r}: {cls} supports {allowed_metrics}")
    if "target" in a:
        target = _float(a["target"], "target", errors)
        if target is not None and target < 0.01:
            errors.append(f"target={target}: must be >= 0.01")
        if target is not None and metric == "concurrency" and container_concurrency and target > container_concurrency:
            errors.append(f"target={target}: above containerConcurrency {container_concurrency}")
    if "target-utilization-percentage" in a:
        _range(_float(a["target-utilization-percentage"], "target-utilization-percentage", errors), 1, 100,
               "target-utilization-percentage", errors)
    if "window" in a:
        _duration(a["window"], "window", 6, 3600, errors, whole=True)
    if "panic-window-percentage" in a:
        _range(_float(a["panic-window-percentage"], "panic-window-percentage", errors), 1, 100,
               "panic-window-percentage", errors)
    if "panic-threshold-percentage" in a:
        _range(_float(a["panic-threshold-percentage"], "panic-threshold-percentage", errors), 110, 1000,
               "panic-threshold-percentage", errors)
    if "scale-down-delay" in a:
        _duration(a["scale-down-delay"], "scale-down-delay", 0, 3600, errors)
    if "scale-to-zero-pod-retention-period" in a:
        _duration(a["scale-to-zero-pod-retention-period"], "scale-to-zero-pod-retention-period", 0, 3600, errors)
    if "target-burst-capacity" in a:
        tbc = _float(a["target-burst-capacity"], "target-burst-capacity", errors)
        if tbc is not None and tbc < 0 and tbc != -1:
            errors.append(f"target-burst-capacity={tbc}: must be >= 0 or -1")
    ints = {}
    for key in ("min-scale", "max-scale", "initial-scale", "activation-scale"):
        if key in a:
            ints[key] = _int(a[key], key, errors)
    lo, hi = ints.get("min-scale"), ints.get("max-scale")
    if lo is not None and lo < 0:
        errors.append(f"min-scale={lo}: must be >= 0")
    if hi is not None and hi < 0:
        errors.append(f"max-scale={hi}: must be >= 0")
    if lo is not None and hi and lo > hi:
        errors.append(f"min-scale={lo} > max-scale={hi}")
    init = ints.get("initial-scale")
    if init is not None:
        # 0 needs allow-zero-initial-scale in config-autoscaler, which is off by default.
        if init < 1:
            errors.append(f"initial-scale={init}: must be >= 1 (allow-zero-initial-scale is false by default)")
        if hi and init > hi:
            errors.append(f"initial-scale={init} > max-scale={hi}")
    act = ints.get("activation-scale")
    if act is not None:
        if act < 2:
            errors.append(f"activation-scale={act}: must be >= 2")
        if hi and act > hi:
            errors.append(f"activation-scale={act} > max-scale={hi}")
    if metric == "concurrency" and cls == KPA and "target" not in a and not container_concurrency:
        errors.append("no target and containerConcurrency 0: the autoscaler would use the cluster default 100")
    return errors


def revision_spec_errors(spec: dict) -> list[str]:
    """containerConcurrency and the three timeouts (config-defaults' limits)."""
    errors: list[str] = []
    cc = spec.get("containerConcurrency", 0)
    _range(cc, 0, CONTAINER_CONCURRENCY_MAX, "containerConcurrency", errors)
    timeout = spec.get("timeoutSeconds")
    if timeout is None:
        errors.append("timeoutSeconds not set")
    else:
        _range(timeout, 1, MAX_REVISION_TIMEOUT_SECONDS, "timeoutSeconds", errors)
    for key in ("responseStartTimeoutSeconds", "idleTimeoutSeconds"):
        v = spec.get(key)
        if v is None:
            errors.append(f"{key} not set")
            continue
        _range(v, 1, MAX_REVISION_TIMEOUT_SECONDS, key, errors)
        if timeout is not None and v > timeout:
            errors.append(f"{key}={v} > timeoutSeconds={timeout}")
    return errors


# Pod-spec fields that Knative's webhook rejects unless a config-features flag enables them.
FEATURE_GATED_POD_FIELDS = {
    "affinity": "kubernetes.podspec-affinity",
    "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
    "hostAliases": "kubernetes.podspec-hostaliases",
    "nodeSelector": "kubernetes.podspec-nodeselector",
    "tolerations": "kubernetes.podspec-tolerations",
    "runtimeClassName": "kubernetes.podspec-runtimeclassname",
    "dnsPolicy": "kubernetes.podspec-dnspolicy",
    "dnsConfig": "kubernetes.podspec-dnsconfig",
    "securityContext": "kubernetes.podspec-securitycontext",
    "shareProcessNamespace": "kubernetes.podspec-shareprocessnamespace",
    "hostIPC": "kubernetes.podspec-hostipc",
    "hostPID": "kubernetes.podspec-hostpid",
    "hostNetwork": "kubernetes.podspec-hostnetwork",
    "priorityClassName": "kubernetes.podspec-priorityclassname",
    "schedulerName": "kubernetes.podspec-schedulername",
    "initContainers": "kubernetes.podspec-init-containers",
}
# Container securityContext fields Knative allows without any flag (capabilities.add only NET_BIND_SERVICE).
CONTAINER_SECURITY_FIELDS = {
    "allowPrivilegeEscalation", "capabilities", "readOnlyRootFilesystem", "runAsGroup", "runAsNonRoot",
    "runAsUser", "seccompProfile",
}
VOLUME_SOURCES_WITHOUT_FLAG = {"emptyDir", "configMap", "secret", "projected"}


def pod_feature_errors(pod_spec: dict, enabled_flags: set[str]) -> list[str]:
    errors = []
    for fld, flag in FEATURE_GATED_POD_FIELDS.items():
        if fld in pod_spec and flag not in enabled_flags:
            errors.append(f"spec.template.spec.{fld} needs config-features {flag}: enabled")
    for c in pod_spec.get("containers", []):
        sc = c.get("securityContext", {})
        for fld in set(sc) - CONTAINER_SECURITY_FIELDS:
            errors.append(f"container {c.get('name')}: securityContext.{fld} is not allowed by Knative")
        added = set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}
        if added and "kubernetes.containerspec-addcapabilities" not in enabled_flags:
            errors.append(f"container {c.get('name')}: capabilities.add {sorted(added)} needs a flag")
    for v in pod_spec.get("volumes", []):
        sources = set(v) - {"name"}
        if not sources <= VOLUME_SOURCES_WITHOUT_FLAG:
            errors.append(f"volume {v.get('name')}: {sorted(sources)} needs a config-features flag")
    return errors


HEALTH = {"startupProbe": "/health/readiness", "readinessProbe": "/health/readiness", "livenessProbe": "/health/liveness"}


def container_errors(container: dict) -> list[str]:
    """Port, probes and security of the function's container."""
    errors = []
    ports = container.get("ports", [])
    if len(ports) != 1 or ports[0].get("containerPort") != 8080 or ports[0].get("name") not in ("http1", "h2c"):
        errors.append(f"expected one port 8080 named http1: {ports}")
    port = ports[0].get("containerPort") if ports else None
    for probe, path in HEALTH.items():
        p = container.get(probe)
        if p is None:
            errors.append(f"{probe} missing")
            continue
        get = p.get("httpGet")
        if not get or get.get("path") != path:
            errors.append(f"{probe}: must be httpGet {path}")
            continue
        if "port" in get and get["port"] != port:
            errors.append(f"{probe}: port {get['port']} is not the container port {port}")
        if probe == "startupProbe" and "port" not in get:
            errors.append("startupProbe: give the port explicitly")
    sc = container.get("securityContext", {})
    if sc.get("runAsNonRoot") is not True:
        errors.append("securityContext.runAsNonRoot must be true")
    if sc.get("runAsUser", 1) == 0:
        errors.append("securityContext.runAsUser must not be 0")
    if sc.get("allowPrivilegeEscalation") is not False:
        errors.append("securityContext.allowPrivilegeEscalation must be false")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        errors.append("securityContext.capabilities.drop must include ALL")
    res = container.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(kind, {}):
                errors.append(f"resources.{kind}.{r} missing")
    return errors


def traffic_errors(traffic: list[dict]) -> list[str]:
    errors = []
    if not traffic:
        return errors
    total = sum(t.get("percent", 0) for t in traffic)
    if total != 100:
        errors.append(f"traffic percents add up to {total}, not 100")
    tags = [t["tag"] for t in traffic if "tag" in t]
    if len(tags) != len(set(tags)):
        errors.append(f"duplicate traffic tags {tags}")
    for t in traffic:
        if not (0 <= t.get("percent", 0) <= 100):
            errors.append(f"percent out of range: {t}")
        if bool(t.get("revisionName")) == bool(t.get("latestRevision")):
            errors.append(f"a traffic target names a revision or follows the latest, not both/neither: {t}")
        if "tag" in t and not t["tag"].replace("-", "").isalnum():
            errors.append(f"bad tag {t['tag']!r}")
    return errors


# --- eventing ---------------------------------------------------------------------------------------

CONSUMED = {"dev.emotivoice.synthesis.requested", "dev.emotivoice.batch.requested", "dev.emotivoice.batch.chunk"}
EMITTED = {
    "dev.emotivoice.synthesis.completed",
    "dev.emotivoice.synthesis.failed",
    "dev.emotivoice.batch.progress",
    "dev.emotivoice.batch.completed",
}
DELIVERY_ORDER = "kafka.eventing.knative.dev/delivery.order"


def delivery_errors(delivery: dict, sink_names: set[str]) -> list[str]:
    errors = []
    retry = delivery.get("retry")
    if retry is None or retry < 0:
        errors.append(f"retry must be set and >= 0: {retry}")
    if delivery.get("backoffPolicy") not in ("linear", "exponential"):
        errors.append(f"backoffPolicy {delivery.get('backoffPolicy')!r}: linear or exponential")
    try:
        if parse_iso8601_duration(delivery.get("backoffDelay", "")) <= 0:
            errors.append("backoffDelay must be > 0")
    except ValueError as exc:
        errors.append(f"backoffDelay: {exc}")
    dls = delivery.get("deadLetterSink", {})
    ref = dls.get("ref")
    if not ref:
        errors.append("deadLetterSink.ref missing")
    elif (ref.get("kind"), ref.get("name")) not in sink_names:
        errors.append(f"deadLetterSink.ref {ref} does not name an object in the rendered manifests")
    return errors


def backoff_total_seconds(delivery: dict) -> float:
    """Sum of the delays before each retry (Knative: linear d*n, exponential d*2^n, n = 1..retry)."""
    d = parse_iso8601_duration(delivery["backoffDelay"])
    n = delivery["retry"]
    if delivery["backoffPolicy"] == "exponential":
        return sum(d * 2 ** (i - 1) for i in range(1, n + 1))
    return sum(d * i for i in range(1, n + 1))


def trigger_errors(trigger: dict, function_name: str = "emotivoice") -> list[str]:
    """Routing rules for a Trigger whose subscriber is the function: exact request-type filter only."""
    errors = []
    spec = trigger["spec"]
    ref = spec.get("subscriber", {}).get("ref", {})
    if not (ref.get("kind") == "Service" and ref.get("apiVersion", "").startswith("serving.knative.dev/")
            and ref.get("name") == function_name):
        return errors  # not routed to the function: nothing of ours to check
    if "filters" in spec:
        errors.append("use filter.attributes (exact type); `filters` would take precedence over it")
    attrs = spec.get("filter", {}).get("attributes", {})
    etype = attrs.get("type")
    if etype is None:
        errors.append("a Trigger to the function must filter on an exact `type` (else replies loop back)")
    elif etype in EMITTED:
        errors.append(f"type {etype} is emitted by the function: routing it back would loop")
    elif etype not in CONSUMED:
        errors.append(f"type {etype} is not one the function consumes")
    order = trigger["metadata"].get("annotations", {}).get(DELIVERY_ORDER)
    if order not in ("ordered", "unordered"):
        errors.append(f"{DELIVERY_ORDER} must be set to ordered or unordered, got {order!r}")
    return errors
