"""Knative YAML <-> ``KpaConfig``: read what a cluster would run, write what the planner recommends.

Why both directions: ``plan --config`` must simulate the settings actually deployed (the
``config-autoscaler`` ConfigMap's defaults, then the Service's ``autoscaling.knative.dev/*`` annotations
and ``containerConcurrency``), and the recommendation must come back as a patch for ``knative/``.

Imports: PyYAML (the planner extra) and ``kpa``; never ``function`` -- the Knative YAML is read as
data, not through the serving code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from planner.kpa import KpaConfig

ANN = "autoscaling.knative.dev/"
SERVICE_NAME = "emotivoice"

# config-autoscaler ConfigMap key -> KpaConfig field
_CONFIGMAP_KEYS: dict[str, str] = {
    "container-concurrency-target-percentage": "target_utilization_percentage",
    "container-concurrency-target-default": "container_concurrency_target_default",
    "requests-per-second-target-default": "rps_target_default",
    "target-burst-capacity": "target_burst_capacity",
    "stable-window": "stable_window_s",
    "panic-window-percentage": "panic_window_percentage",
    "panic-threshold-percentage": "panic_threshold_percentage",
    "max-scale-up-rate": "max_scale_up_rate",
    "max-scale-down-rate": "max_scale_down_rate",
    "enable-scale-to-zero": "enable_scale_to_zero",
    "scale-to-zero-grace-period": "scale_to_zero_grace_period_s",
    "scale-to-zero-pod-retention-period": "scale_to_zero_pod_retention_period_s",
    "initial-scale": "initial_scale",
    "allow-zero-initial-scale": "allow_zero_initial_scale",
    "min-scale": "min_scale",
    "max-scale": "max_scale",
    "scale-down-delay": "scale_down_delay_s",
}

# revision annotation (after the prefix) -> KpaConfig field
_ANNOTATIONS: dict[str, str] = {
    "metric": "metric",
    "target": "target",
    "target-utilization-percentage": "target_utilization_percentage",
    "window": "stable_window_s",
    "panic-window-percentage": "panic_window_percentage",
    "panic-threshold-percentage": "panic_threshold_percentage",
    "target-burst-capacity": "target_burst_capacity",
    "min-scale": "min_scale",
    "max-scale": "max_scale",
    "initial-scale": "initial_scale",
    "activation-scale": "activation_scale",
    "scale-down-delay": "scale_down_delay_s",
    "scale-to-zero-pod-retention-period": "scale_to_zero_pod_retention_period_s",
    # older spellings still accepted by Knative
    "minScale": "min_scale",
    "maxScale": "max_scale",
    "initialScale": "initial_scale",
}

_DURATION_FIELDS = {"stable_window_s", "scale_to_zero_grace_period_s", "scale_to_zero_pod_retention_period_s", "scale_down_delay_s"}
_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")


def parse_duration(v: Any) -> float:
    """Go-style durations (``90s``, ``1m30s``, ``2h``); bare numbers are seconds."""
    if isinstance(v, int | float):
        return float(v)
    s = str(v).strip()
    try:
        return float(s)
    except ValueError:
        pass
    parts = _DUR_RE.findall(s)
    if not parts or "".join(a + u for a, u in parts) != s:
        raise ValueError(f"not a duration: {v!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(a) * scale[u] for a, u in parts)


def format_duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds}s"


def _coerce(field: str, value: Any) -> Any:
    if field in _DURATION_FIELDS:
        d = parse_duration(value)
        return int(d) if field in ("stable_window_s", "scale_down_delay_s") else d
    if field == "enable_scale_to_zero" or field == "allow_zero_initial_scale":
        return str(value).lower() == "true"
    if field == "metric":
        return str(value)
    return float(value) if field not in ("min_scale", "max_scale", "initial_scale", "activation_scale") else int(value)


def load_kpa_config(path: Path, base: KpaConfig | None = None) -> KpaConfig:
    """Read a config file: any mix of a ``config-autoscaler`` ConfigMap, a Knative Service, or a flat
    mapping of ``KpaConfig`` field names. Later documents override earlier ones."""
    values: dict[str, Any] = (base or KpaConfig()).model_dump()
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    if not docs:
        raise ValueError(f"{path}: empty")
    for doc in docs:
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected mappings, got {type(doc).__name__}")
        kind = doc.get("kind")
        if kind == "ConfigMap" and (doc.get("metadata") or {}).get("name", "config-autoscaler") == "config-autoscaler":
            for k, v in (doc.get("data") or {}).items():
                if k in _CONFIGMAP_KEYS:
                    f = _CONFIGMAP_KEYS[k]
                    values[f] = _coerce(f, v)
        elif kind == "Service":
            tmpl = (doc.get("spec") or {}).get("template") or {}
            anns = ((tmpl.get("metadata") or {}).get("annotations")) or {}
            for k, v in anns.items():
                if k.startswith(ANN) and k[len(ANN):] in _ANNOTATIONS:
                    f = _ANNOTATIONS[k[len(ANN):]]
                    values[f] = _coerce(f, v)
            cc = (tmpl.get("spec") or {}).get("containerConcurrency")
            if cc is not None:
                values["container_concurrency"] = int(cc)
        elif kind is None:
            values.update(doc)
        # other kinds (ServiceAccount, ...) in the same manifest do not bear on autoscaling: skipped
    return KpaConfig.model_validate(values)


def patch_annotations(cfg: KpaConfig) -> dict[str, str]:
    """The per-revision annotations that express ``cfg`` (ConfigMap-only knobs cannot be annotated)."""
    a = {
        ANN + "class": "kpa.autoscaling.knative.dev",
        ANN + "metric": cfg.metric,
        ANN + "target-utilization-percentage": f"{cfg.target_utilization_percentage:g}",
        ANN + "window": format_duration(cfg.stable_window_s),
        ANN + "panic-window-percentage": f"{cfg.panic_window_percentage:g}",
        ANN + "panic-threshold-percentage": f"{cfg.panic_threshold_percentage:g}",
        ANN + "target-burst-capacity": f"{cfg.target_burst_capacity:g}",
        ANN + "min-scale": str(cfg.min_scale),
        ANN + "max-scale": str(cfg.max_scale),
        ANN + "initial-scale": str(max(cfg.initial_scale, cfg.min_scale) if cfg.initial_scale else 0),
        ANN + "activation-scale": str(cfg.activation_scale),
        ANN + "scale-down-delay": format_duration(cfg.scale_down_delay_s),
        ANN + "scale-to-zero-pod-retention-period": format_duration(cfg.scale_to_zero_pod_retention_period_s),
    }
    # Always explicit: a target left in the base Service (knative/base sets one) would otherwise
    # silently override the simulated per-pod total.
    a[ANN + "target"] = f"{cfg.total_value:g}"
    return a


def kustomize_patch(cfg: KpaConfig, name: str = SERVICE_NAME, comment: str = "") -> str:
    """A strategic-merge patch for the ``emotivoice`` Knative Service setting ``cfg``."""
    doc = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": patch_annotations(cfg)},
                "spec": {"containerConcurrency": cfg.container_concurrency},
            }
        },
    }
    head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    return head + yaml.safe_dump(doc, sort_keys=False)
