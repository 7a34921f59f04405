"""A revision's ``autoscaling.knative.dev/*`` annotations: Knative's webhook rules, and their values.

Why its own module: the planner reads annotations from a deployed Service and writes them into a patch;
both directions must agree with what Knative's admission webhook accepts
(``pkg/apis/autoscaling/annotation_validation.go``: ranges, integer and duration syntax, second precision,
activation-scale from 2, min <= activation <= max, max-scale-limit) and with how the PodAutoscaler reads
them (``v1alpha1/pa_lifecycle.go``: legacy spellings by key priority, a percentage annotation turned into a
fraction). Errors are rendered as Knative's ``FieldError`` renders them (``message: path``, merged by
message, sorted), so a test can compare with the upstream test's expectation.

Imports: ``go_syntax`` and ``knative_autoscaler_config``; never ``function`` or the simulation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from planner.go_syntax import (
    INT32_MAX,
    GoSyntaxError,
    format_duration_ns,
    format_v,
    is_int32_range_error,
    parse_duration_ns,
    parse_float,
    parse_int32,
)
from planner.knative_autoscaler_config import (
    HPA_CLASS,
    KPA_CLASS,
    PANIC_THRESHOLD_PERCENTAGE_MAX,
    PANIC_THRESHOLD_PERCENTAGE_MIN,
    PANIC_WINDOW_PERCENTAGE_MAX,
    PANIC_WINDOW_PERCENTAGE_MIN,
    TARGET_MIN,
    WINDOW_MAX_NS,
    WINDOW_MIN_NS,
    AutoscalerDefaults,
)

T = TypeVar("T")

GROUP = "autoscaling.knative.dev/"
DOMAIN = ".knative.dev"

# Each annotation by key priority (the first present wins), as in Knative's register.go.
CLASS = (GROUP + "class",)
METRIC = (GROUP + "metric",)
TARGET = (GROUP + "target",)
TARGET_UTILIZATION = (GROUP + "target-utilization-percentage", GROUP + "targetUtilizationPercentage")
WINDOW = (GROUP + "window",)
PANIC_WINDOW_PERCENTAGE = (GROUP + "panic-window-percentage", GROUP + "panicWindowPercentage")
PANIC_THRESHOLD_PERCENTAGE = (GROUP + "panic-threshold-percentage", GROUP + "panicThresholdPercentage")
TARGET_BURST_CAPACITY = (GROUP + "target-burst-capacity", GROUP + "targetBurstCapacity")
MIN_SCALE = (GROUP + "min-scale", GROUP + "minScale")
MAX_SCALE = (GROUP + "max-scale", GROUP + "maxScale")
INITIAL_SCALE = (GROUP + "initial-scale", GROUP + "initialScale")
ACTIVATION_SCALE = (GROUP + "activation-scale",)
SCALE_DOWN_DELAY = (GROUP + "scale-down-delay", GROUP + "scaleDownDelay")
RETENTION = (GROUP + "scale-to-zero-pod-retention-period", GROUP + "scaleToZeroPodRetentionPeriod")
ALGORITHM = (GROUP + "metric-aggregation-algorithm", GROUP + "metricAggregationAlgorithm")
ALGORITHMS = ("linear", "weighted-exponential", "weightedExponential")
_ATOI = re.compile(r"[+-]?[0-9]+")


def _get(m: Mapping[str, str], keys: tuple[str, ...]) -> tuple[str, str] | None:
    """kmap.KeyPriority.Get: (key found, value) for the first key present."""
    for k in keys:
        if k in m:
            return k, m[k]
    return None


class _Errors:
    """Knative's FieldError aggregate: errors with one message are merged, paths sorted, messages sorted."""

    def __init__(self) -> None:
        self.by_message: dict[str, list[str]] = {}

    def add(self, message: str, *paths: str) -> None:
        known = self.by_message.setdefault(message, [])
        known.extend(p for p in paths if p not in known)

    def invalid(self, value: str, path: str) -> None:
        self.add(f"invalid value: {value}", path)

    def out_of_bounds(self, value: str, lo: str, hi: str, path: str) -> None:
        self.add(f"expected {lo} <= {value} <= {hi}", path)

    def rendered(self) -> list[str]:
        return [f"{msg}: {', '.join(sorted(paths))}" for msg, paths in sorted(self.by_message.items())]


def _int_ge0(m: Mapping[str, str], keys: tuple[str, ...], errs: _Errors) -> int:
    found = _get(m, keys)
    if found is None:
        return 0
    k, v = found
    try:
        i = parse_int32(v)
    except GoSyntaxError as e:
        if is_int32_range_error(e):
            errs.out_of_bounds(v, "0", str(INT32_MAX), k)
        else:
            errs.invalid(v, k)
        return 0
    if i < 0:
        errs.out_of_bounds(v, "0", str(INT32_MAX), k)
        return 0
    return i


def _parsed(m: Mapping[str, str], keys: tuple[str, ...], parse: Callable[[str], T], errs: _Errors,
            path: str | None = None) -> tuple[str, str, T] | None:
    """The first present key, its raw value and the value parsed; a value that does not parse is recorded
    as invalid (at ``path``, default the key) and reads as absent, as Knative's validation does."""
    found = _get(m, keys)
    if not found:
        return None
    k, v = found
    try:
        return k, v, parse(v)
    except GoSyntaxError:
        errs.invalid(v, path or k)
        return None


def annotation_errors(annotations: Mapping[str, str], cluster: AutoscalerDefaults | None = None) -> list[str]:
    """Knative's ``ValidateAnnotations``: every error its webhook would report, rendered as it renders them."""
    m, c, errs = annotations, cluster or AutoscalerDefaults(), _Errors()
    # class
    found = _get(m, CLASS)
    if found and found[1].endswith(DOMAIN) and found[1] not in (KPA_CLASS, HPA_CLASS):
        errs.invalid(found[1], found[0])
    # min / max / activation scale
    lo = _int_ge0(m, MIN_SCALE, errs)
    hi = _int_ge0(m, MAX_SCALE, errs)
    if hi != 0 and hi < lo:
        errs.add(f"max-scale={hi} is less than min-scale={lo}", MAX_SCALE[0], MIN_SCALE[0])
    found = _get(m, MAX_SCALE)
    if found and c.max_scale_limit:
        if hi > c.max_scale_limit:
            errs.out_of_bounds(str(hi), "1", str(c.max_scale_limit), found[0])
        if hi == 0:
            errs.add(f"max-scale=0 (unlimited), must be less than {c.max_scale_limit}", found[0])
    got = _parsed(m, ACTIVATION_SCALE, parse_int32, errs)
    if got:
        k, v, act = got
        if lo > act:
            errs.add(f"min-scale={lo} is greater than activation-scale={act}", k)
        elif hi < act and hi != 0:
            errs.add(f"max-scale={hi} is less than activation-scale={act}", k)
        elif act < 2:
            errs.add(f"activation-scale={act} must be greater than 1", k)
    # floats
    for keys, lo_f, hi_f in ((PANIC_WINDOW_PERCENTAGE, PANIC_WINDOW_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX),
                             (PANIC_THRESHOLD_PERCENTAGE, PANIC_THRESHOLD_PERCENTAGE_MIN, PANIC_THRESHOLD_PERCENTAGE_MAX),
                             (TARGET_UTILIZATION, 1.0, 100.0)):
        got_f = _parsed(m, keys, parse_float, errs)
        if got_f:
            k, v, fv = got_f
            if not lo_f <= fv <= hi_f:
                errs.out_of_bounds(v, format_v(lo_f), format_v(hi_f), k)
    got_f = _parsed(m, TARGET, parse_float, errs)
    if got_f:
        k, v, fv = got_f
        if fv < TARGET_MIN:
            errs.add(f"target {v} should be at least {format_v(TARGET_MIN)}", k)
    got_f = _parsed(m, TARGET_BURST_CAPACITY, parse_float, errs)
    if got_f:
        k, v, fv = got_f
        if fv < 0 and fv != -1:
            errs.invalid(v, k)
    # durations
    got_d = _parsed(m, WINDOW, parse_duration_ns, errs, WINDOW[0])
    if got_d:
        k, v, ns = got_d
        if not WINDOW_MIN_NS <= ns <= WINDOW_MAX_NS:
            errs.out_of_bounds(v, format_duration_ns(WINDOW_MIN_NS), format_duration_ns(WINDOW_MAX_NS), WINDOW[0])
        elif ns % 1_000_000_000:
            errs.add("must be specified with at most second precision", WINDOW[0])
    for keys, whole in ((RETENTION, False), (SCALE_DOWN_DELAY, True)):
        got_d = _parsed(m, keys, parse_duration_ns, errs)
        if got_d:
            k, v, ns = got_d
            if not 0 <= ns <= WINDOW_MAX_NS:
                errs.out_of_bounds(v, format_duration_ns(0), format_duration_ns(WINDOW_MAX_NS), k)
            elif whole and ns % 1_000_000_000:
                errs.add("must be specified with at most second precision", k)
    # metric, for the class in force
    found = _get(m, METRIC)
    if found:
        metric = found[1]
        cls_found = _get(m, CLASS)
        cls = cls_found[1] if cls_found else c.pod_autoscaler_class
        bad = (cls == KPA_CLASS and metric not in ("concurrency", "rps")) or (cls == HPA_CLASS and metric == "")
        if bad:
            errs.invalid(metric, METRIC[0])
    # aggregation algorithm (KPA only)
    cls_found = _get(m, CLASS)
    if cls_found and cls_found[1] == KPA_CLASS:
        found = _get(m, ALGORITHM)
        if found and found[1] and found[1] not in ALGORITHMS:
            errs.invalid(found[1], found[0])
    # initial scale
    found = _get(m, INITIAL_SCALE)
    if found:
        k, v = found
        init = int(v) if _ATOI.fullmatch(v) else None  # strconv.Atoi
        if init is None:
            errs.invalid(v, k)
        elif init < 0:
            errs.invalid(v, k + " must be greater than 0")
        elif init == 0 and not c.allow_zero_initial_scale:
            errs.invalid(v, k + "=0 not allowed by cluster")
    return errs.rendered()


@dataclass(frozen=True)
class RevisionAnnotations:
    """The annotation values the PodAutoscaler reads (None: absent), in Knative's units."""

    autoscaler_class: str = KPA_CLASS
    metric: str = "concurrency"
    target: float | None = None
    target_utilization: float | None = None  # a fraction: the annotation's percentage / 100
    window_ns: int | None = None
    panic_window_percentage: float | None = None
    panic_threshold_percentage: float | None = None
    target_burst_capacity: float | None = None
    min_scale: int | None = None
    max_scale: int | None = None
    initial_scale: int | None = None
    activation_scale: int | None = None
    scale_down_delay_ns: int | None = None
    retention_ns: int | None = None
    aggregation_algorithm: str | None = None


def read_annotations(annotations: Mapping[str, str]) -> RevisionAnnotations:
    """The PodAutoscaler's getters: each value by key priority; a value that does not parse reads as absent
    (Knative's getters ignore it; ``annotation_errors`` is where it is rejected)."""
    m = annotations

    def parsed(keys: tuple[str, ...], parse: Callable[[str], T]) -> T | None:
        found = _get(m, keys)
        try:
            return parse(found[1]) if found else None
        except GoSyntaxError:
            return None

    def num(keys: tuple[str, ...]) -> float | None:
        return parsed(keys, parse_float)

    def i32(keys: tuple[str, ...]) -> int | None:
        return parsed(keys, parse_int32)

    def dur(keys: tuple[str, ...]) -> int | None:
        return parsed(keys, parse_duration_ns)

    cls = _get(m, CLASS)
    metric = _get(m, METRIC)
    tu = num(TARGET_UTILIZATION)
    algorithm = _get(m, ALGORITHM)
    return RevisionAnnotations(
        autoscaler_class=cls[1] if cls else KPA_CLASS,
        metric=metric[1] if metric else "concurrency",
        target=num(TARGET),
        target_utilization=None if tu is None else tu / 100.0,
        window_ns=dur(WINDOW),
        panic_window_percentage=num(PANIC_WINDOW_PERCENTAGE),
        panic_threshold_percentage=num(PANIC_THRESHOLD_PERCENTAGE),
        target_burst_capacity=num(TARGET_BURST_CAPACITY),
        min_scale=i32(MIN_SCALE),
        max_scale=i32(MAX_SCALE),
        initial_scale=i32(INITIAL_SCALE),
        activation_scale=i32(ACTIVATION_SCALE),
        scale_down_delay_ns=dur(SCALE_DOWN_DELAY),
        retention_ns=dur(RETENTION),
        aggregation_algorithm=algorithm[1] if algorithm else None,
    )
