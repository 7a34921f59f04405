"""Knative YAML <-> ``KpaConfig``: read what a cluster would run, write a patch Knative accepts.

Why both directions: ``plan --config`` must simulate the settings actually deployed (the
``config-autoscaler`` ConfigMap's defaults, then the Service's ``autoscaling.knative.dev/*`` annotations
and ``containerConcurrency``, merged as Knative merges them), and the recommendation must come back as a
patch for ``knative/`` that carries everything the simulated row depended on:

- the Service: every autoscaling annotation explicit (so nothing left in the base Service can silently
  change the plan), ``containerConcurrency``; an activation scale the plan did not assume is deleted
  (``null``), since the webhook accepts no value meaning "unset";
- the function's own concurrency bound: ``EMOTIVOICE_WORKERS`` + ``EMOTIVOICE_QUEUE_SIZE`` =
  containerConcurrency in the ``emotivoice-config`` ConfigMap, with the worker count the service-time
  measurements were taken with;
- what a Service cannot carry (cluster-wide ``config-autoscaler`` keys) is listed in the patch's comment.

Every patch is checked against Knative's webhook rules (``knative_annotations``) before it is written.

Imports: PyYAML (the planner extra), ``go_syntax``, ``knative_autoscaler_config``, ``knative_annotations``,
``function_bound`` and ``kpa_config``; never ``function`` -- the Knative YAML is read as data, not through the serving code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planner.function_bound import FunctionBound
from planner.go_syntax import NS_PER_S, GoSyntaxError, format_v, parse_duration_ns
from planner.knative_annotations import GROUP, annotation_errors, read_annotations
from planner.knative_autoscaler_config import (
    KPA_CLASS,
    AutoscalerDefaults,
    KnativeConfigError,
    parse_config_autoscaler,
)
from planner.kpa_config import KpaConfig

ANN = GROUP
SERVICE_NAME = "emotivoice"
#: The ConfigMap the function's container takes its environment from (knative/base).
FUNCTION_CONFIGMAP = "emotivoice-config"
#: config-defaults ``container-concurrency-max-limit`` (Knative's default).
CONTAINER_CONCURRENCY_MAX = 1000


def _seconds(ns: int) -> float:
    return ns / NS_PER_S


def _cluster_fields(d: AutoscalerDefaults) -> dict[str, Any]:
    """The ConfigMap-level part of a ``KpaConfig`` (before any annotation)."""
    return {
        "container_concurrency_target_fraction": d.container_concurrency_target_fraction,
        "container_concurrency_target_default": d.container_concurrency_target_default,
        "rps_target_default": d.rps_target_default,
        "max_scale_up_rate": d.max_scale_up_rate,
        "max_scale_down_rate": d.max_scale_down_rate,
        "enable_scale_to_zero": d.enable_scale_to_zero,
        "scale_to_zero_grace_period_s": _seconds(d.scale_to_zero_grace_period_ns),
        "allow_zero_initial_scale": d.allow_zero_initial_scale,
        "stable_window_s": d.stable_window_ns // NS_PER_S,
        "panic_window_percentage": d.panic_window_percentage,
        "panic_threshold_percentage": d.panic_threshold_percentage,
        "target_burst_capacity": d.target_burst_capacity,
        "scale_down_delay_s": d.scale_down_delay_ns // NS_PER_S,
        "scale_to_zero_pod_retention_period_s": _seconds(d.scale_to_zero_pod_retention_period_ns),
        "min_scale": d.min_scale,
        "max_scale": d.max_scale,
        "initial_scale": d.initial_scale,
    }


# KpaConfig fields that AutoscalerDefaults carries under the same name and unit.
_SAME_FIELDS = ("container_concurrency_target_fraction", "container_concurrency_target_default", "rps_target_default",
                "max_scale_up_rate", "max_scale_down_rate", "enable_scale_to_zero", "allow_zero_initial_scale",
                "panic_window_percentage", "panic_threshold_percentage", "target_burst_capacity", "min_scale",
                "max_scale", "initial_scale")


def _defaults_of(cfg: KpaConfig) -> AutoscalerDefaults:
    """The cluster defaults a ``KpaConfig`` stands for (when no ConfigMap was given)."""
    return AutoscalerDefaults(
        **{name: getattr(cfg, name) for name in _SAME_FIELDS},
        scale_to_zero_grace_period_ns=round(cfg.scale_to_zero_grace_period_s * NS_PER_S),
        stable_window_ns=cfg.stable_window_s * NS_PER_S,
        scale_down_delay_ns=cfg.scale_down_delay_s * NS_PER_S,
        scale_to_zero_pod_retention_period_ns=round(cfg.scale_to_zero_pod_retention_period_s * NS_PER_S),
    )


def revision_fields(annotations: dict[str, str], cluster: AutoscalerDefaults) -> dict[str, Any]:
    """The ``KpaConfig`` fields a revision's annotations set, merged over the cluster defaults as the KPA
    merges them (``MakeDecider``, ``ScaleBounds``, ``GetInitialScale``, ``StableWindow``). Raises
    ``ValueError`` with Knative's messages for annotations its webhook rejects, and for what the planner
    does not model (another autoscaler class, the weighted-exponential average)."""
    errors = annotation_errors(annotations, cluster)
    if errors:
        raise ValueError("Knative would reject these annotations:\n  " + "\n  ".join(errors))
    a = read_annotations(annotations)
    if a.autoscaler_class != KPA_CLASS:
        raise ValueError(f"{ANN}class is {a.autoscaler_class!r}: the planner models the KPA only")
    if a.aggregation_algorithm not in (None, "", "linear"):
        raise ValueError(f"{ANN}metric-aggregation-algorithm {a.aggregation_algorithm!r} is not modeled "
                         "(the planner simulates Knative's default linear window average)")
    if a.metric not in ("concurrency", "rps"):
        raise ValueError(f"{ANN}metric {a.metric!r}: the KPA scales on concurrency or rps")
    c = _cluster_fields(cluster)
    initial = c["initial_scale"]
    if a.initial_scale is not None and not (a.initial_scale == 0 and not cluster.allow_zero_initial_scale):
        initial = a.initial_scale
    return {
        **c,
        "metric": a.metric,
        "target": a.target,
        "target_utilization_percentage": None if a.target_utilization is None else a.target_utilization * 100.0,
        "activation_scale": a.activation_scale or 0,
        "stable_window_s": c["stable_window_s"] if a.window_ns is None else a.window_ns // NS_PER_S,
        "panic_window_percentage": _or(a.panic_window_percentage, c["panic_window_percentage"]),
        "panic_threshold_percentage": _or(a.panic_threshold_percentage, c["panic_threshold_percentage"]),
        "target_burst_capacity": _or(a.target_burst_capacity, c["target_burst_capacity"]),
        "scale_down_delay_s": c["scale_down_delay_s"] if a.scale_down_delay_ns is None else a.scale_down_delay_ns // NS_PER_S,
        "scale_to_zero_pod_retention_period_s": (
            c["scale_to_zero_pod_retention_period_s"] if a.retention_ns is None else _seconds(a.retention_ns)),
        "min_scale": _or(a.min_scale, c["min_scale"]),
        "max_scale": _or(a.max_scale, c["max_scale"]),
        "initial_scale": initial,
    }


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


@dataclass
class _Docs:
    autoscaler: dict[str, str] | None = None
    deployment: dict[str, str] | None = None
    service: dict | None = None
    flat: dict | None = None


def load_kpa_config(path: Path, base: KpaConfig | None = None) -> KpaConfig:
    """Read a config file: any mix of a ``config-autoscaler`` ConfigMap (and ``config-deployment`` for the
    progress deadline), a Knative Service, or a flat mapping of ``KpaConfig`` field names. As in a cluster,
    the Service's annotations override the ConfigMap whatever the document order; a flat mapping (a
    planner-only form) overrides both. Raises ``ValueError`` with Knative's message for a value Knative
    rejects."""
    base = base or KpaConfig()
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    if not docs:
        raise ValueError(f"{path}: empty")
    found = _Docs()
    for doc in docs:
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected mappings, got {type(doc).__name__}")
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name", "config-autoscaler")
        if kind == "ConfigMap" and name == "config-autoscaler":
            found.autoscaler = {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
        elif kind == "ConfigMap" and name == "config-deployment":
            found.deployment = {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
        elif kind == "Service":
            found.service = doc
        elif kind is None:
            found.flat = {**(found.flat or {}), **doc}
        # other kinds (ServiceAccount, ...) in the same manifest do not bear on autoscaling: skipped
    values: dict[str, Any] = base.model_dump()
    try:
        cluster = parse_config_autoscaler(found.autoscaler) if found.autoscaler is not None else _defaults_of(base)
    except KnativeConfigError as e:
        raise ValueError(f"config-autoscaler: {e}") from e
    values.update(_cluster_fields(cluster))
    if found.deployment is not None and "progress-deadline" in found.deployment:
        try:
            values["progress_deadline_s"] = _seconds(parse_duration_ns(found.deployment["progress-deadline"]))
        except GoSyntaxError as e:
            raise ValueError(f'config-deployment: failed to parse "progress-deadline": {e}') from e
    if found.service is not None:
        tmpl = (found.service.get("spec") or {}).get("template") or {}
        raw = ((tmpl.get("metadata") or {}).get("annotations")) or {}
        anns = {str(k): str(v) for k, v in raw.items() if v is not None}  # null: deleted by a patch
        values.update(revision_fields(anns, cluster))
        cc = (tmpl.get("spec") or {}).get("containerConcurrency")
        if cc is not None:
            values["container_concurrency"] = int(cc)
    if found.flat is not None:
        values.update(found.flat)
    return KpaConfig.model_validate(values)


# --- writing -------------------------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """A Go duration for whole or fractional seconds (``60s``, ``1.5s``)."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{format_v(float(seconds))}s"


def patch_annotations(cfg: KpaConfig) -> dict[str, str | None]:
    """Every per-revision annotation that expresses ``cfg``; None deletes one (activation scale unset).

    ``target`` and ``target-utilization-percentage`` are written as Knative resolved them (the per-pod
    total and the utilisation in force), so neither a target left in the base Service nor the ConfigMap's
    percentage can change the simulated per-pod target.
    """
    return {
        ANN + "class": KPA_CLASS,
        ANN + "metric": cfg.metric,
        ANN + "target": format_v(cfg.total_value),
        ANN + "target-utilization-percentage": format_v(round(cfg.utilization * 100.0, 9)),
        ANN + "window": format_seconds(cfg.stable_window_s),
        ANN + "panic-window-percentage": format_v(cfg.panic_window_percentage),
        ANN + "panic-threshold-percentage": format_v(cfg.panic_threshold_percentage),
        ANN + "target-burst-capacity": format_v(cfg.target_burst_capacity),
        ANN + "min-scale": str(cfg.min_scale),
        ANN + "max-scale": str(cfg.max_scale),
        # Not simulated (the simulated revision is already running); a new revision starts at the floor.
        ANN + "initial-scale": str(max(cfg.initial_scale, cfg.min_scale) if cfg.initial_scale else 0),
        ANN + "activation-scale": str(cfg.activation_scale) if cfg.activation_scale >= 2 else None,
        ANN + "scale-down-delay": format_seconds(cfg.scale_down_delay_s),
        ANN + "scale-to-zero-pod-retention-period": format_seconds(cfg.scale_to_zero_pod_retention_period_s),
    }


def patch_errors(cfg: KpaConfig) -> list[str]:
    """What Knative's webhook would reject in the patch for ``cfg`` (empty: it would be admitted)."""
    anns = {k: v for k, v in patch_annotations(cfg).items() if v is not None}
    errors = annotation_errors(anns, _defaults_of(cfg))
    if not 0 <= cfg.container_concurrency <= CONTAINER_CONCURRENCY_MAX:
        errors.append(f"expected 0 <= {cfg.container_concurrency} <= {CONTAINER_CONCURRENCY_MAX}: "
                      "spec.template.spec.containerConcurrency")
    return errors


def cluster_assumptions(cfg: KpaConfig) -> str:
    """The config-autoscaler values the plan assumed: a Service patch cannot set them."""
    return (f"config-autoscaler assumed: max-scale-up-rate {format_v(cfg.max_scale_up_rate)}, max-scale-down-rate "
            f"{format_v(cfg.max_scale_down_rate)}, enable-scale-to-zero {str(cfg.enable_scale_to_zero).lower()}, "
            f"scale-to-zero-grace-period {format_seconds(cfg.scale_to_zero_grace_period_s)}")


def kustomize_patch(cfg: KpaConfig, name: str = SERVICE_NAME, comment: str = "", workers: int | None = None) -> str:
    """A strategic-merge patch setting ``cfg`` on the ``emotivoice`` Knative Service and, with ``workers``,
    the matching ``EMOTIVOICE_WORKERS`` / ``EMOTIVOICE_QUEUE_SIZE`` in the function's ConfigMap.

    Raises ``ValueError`` when Knative would reject it (the message lists Knative's errors)."""
    errors = patch_errors(cfg)
    if errors:
        raise ValueError("Knative would reject this patch:\n  " + "\n  ".join(errors))
    service = {
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
    docs: list[dict] = [service]
    if workers is not None:
        bound = FunctionBound.for_pod(cfg.container_concurrency, workers)
        docs.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": FUNCTION_CONFIGMAP},
            "data": {"EMOTIVOICE_WORKERS": str(bound.workers), "EMOTIVOICE_QUEUE_SIZE": str(bound.queue_size)},
        })
    lines = [*(comment.splitlines() if comment else []), cluster_assumptions(cfg)]
    head = "".join(f"# {line}\n" for line in lines)
    return head + yaml.safe_dump_all(docs, sort_keys=False)
