"""The ``config-autoscaler`` ConfigMap, parsed and validated as knative/serving's config code does.

Why its own module: a plan must start from the cluster defaults a real cluster would compute from the same
ConfigMap -- same defaults, same Go value syntax, the legacy rule that ``container-concurrency-target-
percentage`` in (0, 1] is already a fraction, and the same rejections (with Knative's error text), so a
ConfigMap Knative refuses is refused here too instead of being simulated. Facts from
``pkg/autoscaler/config/config.go`` (``defaultConfig``, ``NewConfigFromMap``, ``validate``); the code is
written from them, not copied.

Imports: ``go_syntax`` only; never ``function`` or the simulation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from planner.go_syntax import (
    NS_PER_S,
    GoSyntaxError,
    format_duration_ns,
    format_f,
    format_v,
    parse_bool,
    parse_duration_ns,
    parse_float,
    parse_int32,
)

KPA_CLASS = "kpa.autoscaling.knative.dev"
HPA_CLASS = "hpa.autoscaling.knative.dev"
#: ``autoscaling.TargetMin``: the smallest per-pod target Knative accepts or resolves to.
TARGET_MIN = 0.01
#: ``autoscaling.WindowMin`` / ``WindowMax``: bounds of the stable window (and of delays and retention).
WINDOW_MIN_NS = 6 * NS_PER_S
WINDOW_MAX_NS = 3600 * NS_PER_S
PANIC_WINDOW_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX = 1.0, 100.0
PANIC_THRESHOLD_PERCENTAGE_MIN, PANIC_THRESHOLD_PERCENTAGE_MAX = 110.0, 1000.0
#: The utilisation applied to the RPS metric: a constant in Knative, no ConfigMap key changes it.
RPS_TARGET_UTILIZATION = 0.7


class KnativeConfigError(ValueError):
    """A value Knative rejects; the message is Knative's own."""


@dataclass(frozen=True)
class AutoscalerDefaults:
    """The cluster-wide autoscaler settings (Knative's ``autoscalerconfig.Config``), in Knative's units:
    fractions for the concurrency utilisation, integer nanoseconds for durations."""

    pod_autoscaler_class: str = KPA_CLASS
    enable_scale_to_zero: bool = True
    allow_zero_initial_scale: bool = False
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    container_concurrency_target_fraction: float = 0.7
    container_concurrency_target_default: float = 100.0
    target_utilization: float = RPS_TARGET_UTILIZATION  # RPS; no ConfigMap key
    rps_target_default: float = 200.0
    target_burst_capacity: float = 211.0
    panic_window_percentage: float = 10.0
    activator_capacity: float = 100.0
    panic_threshold_percentage: float = 200.0
    initial_scale: int = 1
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0
    stable_window_ns: int = 60 * NS_PER_S
    scale_down_delay_ns: int = 0
    scale_to_zero_grace_period_ns: int = 30 * NS_PER_S
    scale_to_zero_pod_retention_period_ns: int = 0


def _float(v: str) -> float:
    return parse_float(v)


def _int32(v: str) -> int:
    return parse_int32(v)


def _str(v: str) -> str:
    return v.strip()


# (ConfigMap key, field, parser), in the order Knative parses them: the first bad value is the one reported.
_KEYS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("pod-autoscaler-class", "pod_autoscaler_class", _str),
    ("enable-scale-to-zero", "enable_scale_to_zero", parse_bool),
    ("allow-zero-initial-scale", "allow_zero_initial_scale", parse_bool),
    ("max-scale-up-rate", "max_scale_up_rate", _float),
    ("max-scale-down-rate", "max_scale_down_rate", _float),
    ("container-concurrency-target-percentage", "container_concurrency_target_fraction", _float),
    ("container-concurrency-target-default", "container_concurrency_target_default", _float),
    ("requests-per-second-target-default", "rps_target_default", _float),
    ("target-burst-capacity", "target_burst_capacity", _float),
    ("panic-window-percentage", "panic_window_percentage", _float),
    ("activator-capacity", "activator_capacity", _float),
    ("panic-threshold-percentage", "panic_threshold_percentage", _float),
    ("initial-scale", "initial_scale", _int32),
    ("min-scale", "min_scale", _int32),
    ("max-scale", "max_scale", _int32),
    ("max-scale-limit", "max_scale_limit", _int32),
    ("stable-window", "stable_window_ns", parse_duration_ns),
    ("scale-down-delay", "scale_down_delay_ns", parse_duration_ns),
    ("scale-to-zero-grace-period", "scale_to_zero_grace_period_ns", parse_duration_ns),
    ("scale-to-zero-pod-retention-period", "scale_to_zero_pod_retention_period_ns", parse_duration_ns),
)
#: Every key this module reads (others, such as ``_example``, are ignored, as Knative ignores them).
CONFIGMAP_KEYS = tuple(k for k, _, _ in _KEYS)


def parse_config_autoscaler(data: Mapping[str, str]) -> AutoscalerDefaults:
    """``NewConfigFromMap``: defaults, then each present key parsed, then the legacy percentage rule, then
    ``validate``. Raises ``KnativeConfigError`` with Knative's message for the first problem."""
    values: dict[str, Any] = {}
    for key, field, parse in _KEYS:
        if key not in data:
            continue
        raw = data[key]
        try:
            values[field] = parse(str(raw))
        except GoSyntaxError as e:
            raise KnativeConfigError(f'failed to parse data: failed to parse "{key}": {e}') from e
    cfg = replace(AutoscalerDefaults(), **values)
    # Legacy: a value in (0, 1] is already a fraction; anything above 1 is a percentage.
    if cfg.container_concurrency_target_fraction > 1.0:
        cfg = replace(cfg, container_concurrency_target_fraction=cfg.container_concurrency_target_fraction / 100.0)
    validate(cfg)
    return cfg


def validate(c: AutoscalerDefaults) -> None:
    """Knative's ``validate``, check for check and message for message."""
    d = format_duration_ns

    def fail(msg: str) -> None:
        raise KnativeConfigError(msg)

    if c.scale_to_zero_grace_period_ns <= 0:
        fail(f"scale-to-zero-grace-period must be positive, was: {d(c.scale_to_zero_grace_period_ns)}")
    if c.scale_down_delay_ns < 0:
        fail(f"scale-down-delay cannot be negative, was: {d(c.scale_down_delay_ns)}")
    if c.scale_down_delay_ns % NS_PER_S:
        fail(f"scale-down-delay = {d(c.scale_down_delay_ns)}, must be specified with at most second precision")
    if c.scale_to_zero_pod_retention_period_ns < 0:
        fail("scale-to-zero-pod-retention-period cannot be negative, was: "
             f"{d(c.scale_to_zero_pod_retention_period_ns)}")
    if c.target_burst_capacity < 0 and c.target_burst_capacity != -1:
        fail("target-burst-capacity must be either non-negative or -1 (for unlimited), was: "
             f"{format_f(c.target_burst_capacity)}")
    if c.container_concurrency_target_fraction <= 0 or c.container_concurrency_target_fraction > 1:
        fail(f"container-concurrency-target-percentage = {format_f(c.container_concurrency_target_fraction)} "
             "is outside of valid range of (0, 100]")
    x = c.container_concurrency_target_fraction * c.container_concurrency_target_default
    if x < TARGET_MIN:
        fail("container-concurrency-target-percentage and container-concurrency-target-default yield target "
             f"concurrency of {format_v(x)}, can't be less than {format_v(TARGET_MIN)}")
    if c.rps_target_default < TARGET_MIN:
        fail(f"requests-per-second-target-default must be at least {format_v(TARGET_MIN)}, was: "
             f"{format_v(c.rps_target_default)}")
    if c.activator_capacity < 1:
        fail(f"activator-capacity = {format_v(c.activator_capacity)}, must be at least 1")
    if c.max_scale_up_rate <= 1.0:
        fail(f"max-scale-up-rate = {format_v(c.max_scale_up_rate)}, must be greater than 1.0")
    if c.max_scale_down_rate <= 1.0:
        fail(f"max-scale-down-rate = {format_v(c.max_scale_down_rate)}, must be greater than 1.0")
    if not WINDOW_MIN_NS <= c.stable_window_ns <= WINDOW_MAX_NS:
        fail(f"stable-window = {d(c.stable_window_ns)}, must be in [{d(WINDOW_MIN_NS)}; {d(WINDOW_MAX_NS)}] range")
    if c.stable_window_ns % NS_PER_S:
        fail(f"stable-window = {d(c.stable_window_ns)}, must be specified with at most second precision")
    if not PANIC_WINDOW_PERCENTAGE_MIN <= c.panic_window_percentage <= PANIC_WINDOW_PERCENTAGE_MAX:
        fail(f"panic-window-percentage = {format_v(c.panic_window_percentage)}, must be in "
             f"[{format_v(PANIC_WINDOW_PERCENTAGE_MIN)}, {format_v(PANIC_WINDOW_PERCENTAGE_MAX)}] interval")
    if c.initial_scale < 0 or (c.initial_scale == 0 and not c.allow_zero_initial_scale):
        fail(f"initial-scale = {c.initial_scale}, must be at least 0 (or at least 1 when "
             "allow-zero-initial-scale is false)")
    if c.min_scale < 0:
        fail(f"min-scale = {c.min_scale}, must be at least 0")
    min_max_scale = 1 if c.max_scale_limit > 0 else 0
    if c.max_scale < min_max_scale or (c.max_scale_limit > 0 and c.max_scale > c.max_scale_limit):
        fail(f"max-scale = {c.max_scale}, must be in [{min_max_scale}, max-scale-limit({c.max_scale_limit})] range")
    if c.max_scale_limit < 0:
        fail(f"max-scale-limit = {c.max_scale_limit}, must be at least 0")
    if c.min_scale > c.max_scale > 0:
        fail(f"min-scale ({c.min_scale}) must be less than max-scale ({c.max_scale})")
