"""Our KPA against knative/serving's own unit-test vectors (issue 12, items 4-8).

The vectors (``knative_vectors.py``) are read out of knative/serving's tests: stable and panic windows,
panic entry and exit, max scale-up/down rates, activation scale, scale-to-zero grace and pod retention,
initial scale, unreachable revisions, the bucket edge cases (out-of-order writes, a gap of exactly one
window, 6-digit rounding), target resolution, the panic window, and the ConfigMap and annotation rules.
Each parametrised case is named after the upstream test it comes from.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.go_syntax import NS_PER_S
from planner.knative_annotations import annotation_errors
from planner.knative_autoscaler_config import AutoscalerDefaults, KnativeConfigError, parse_config_autoscaler
from planner.kpa import DeciderSpec, DeciderState, KpaConfig, Observation, PaState, TimedBuckets, decide, reconcile
from planner.metric_buckets import round_to_n_digits

from .knative_vectors import (
    ANNOTATION_ROWS,
    BUCKET_SCENARIOS,
    CONFIG_ROWS,
    DECIDER_SCENARIOS,
    INITIAL_PANIC,
    PANIC_WINDOW_ROWS,
    ROUND_TO_N_DIGITS,
    SCALER_ROWS,
    TARGET_ROWS,
)

UPSTREAM_CONFIGMAP = Path(__file__).resolve().parents[3] / "shared" / "knative-crds" / "serving-config-autoscaler.yaml"


# --- pkg/autoscaler/scaling/autoscaler_test.go ----------------------------------------------------------


def _spec(d: dict[str, Any]) -> DeciderSpec:
    return DeciderSpec(**d)


@pytest.mark.parametrize("scenario", DECIDER_SCENARIOS, ids=lambda s: s["name"])
def test_decider_matches_knative_autoscaler_tests(scenario: dict[str, Any]) -> None:
    """Every Scale() call of the upstream test, in order, on one decider (state carried between calls)."""
    spec = _spec(scenario["spec"])
    first = scenario["steps"][0]["now"]
    state = DeciderState.initial(scenario["initial_ready"], first)
    if scenario.get("state"):
        state = replace(state, **scenario["state"])
    for i, st in enumerate(scenario["steps"]):
        if "spec" in st:
            spec = replace(spec, **st["spec"])  # the autoscaler's Update(spec)
        r, state = decide(spec, state, Observation(st["now"], st["stable"], st["panic"], st["ready"]))
        where = f"{scenario['name']} call {i + 1}"
        assert r.valid == st["valid"], where
        assert r.desired_pods == st["desired"], (where, r)
        if st["ebc"] is not None:
            assert abs(r.excess_burst_capacity - st["ebc"]) <= 1, (where, r)  # upstream: approxEquateInt32
        if "panic_time" in st:
            assert state.panic_time == st["panic_time"], where


@pytest.mark.parametrize("name,ready,in_panic,max_panic", INITIAL_PANIC, ids=[r[0] for r in INITIAL_PANIC])
def test_new_autoscaler_panic_state_matches_knative(name: str, ready: int, in_panic: bool, max_panic: int) -> None:
    s = DeciderState.initial(ready, 0.0)
    assert (s.in_panic, s.max_panic_pods) == (in_panic, max_panic)


# --- pkg/autoscaler/aggregation/bucketing_test.go ---------------------------------------------------------


def _bucket_sum(b: TimedBuckets, t: float) -> float:
    """The upstream test's forEachBucket: from the last write back over the buckets still in the window."""
    assert b.last_write is not None
    n = b.window - (math.floor(t) - b.last_write)
    return sum(b.buckets[(b.last_write - i) % b.window] for i in range(n))


@pytest.mark.parametrize("scenario", BUCKET_SCENARIOS, ids=lambda s: s["name"])
def test_buckets_match_knative_bucketing_tests(scenario: dict[str, Any]) -> None:
    b = TimedBuckets(scenario["window"])
    for i, (op, t, v) in enumerate(scenario["ops"]):
        where = f"{scenario['name']} op {i + 1} ({op} at +{t - 1_000_000:g})"
        if op == "record":
            b.record(t, v)
        elif op == "average":
            assert b.window_average(t) == pytest.approx(v, abs=1e-6), where
        elif op == "empty":
            assert b.is_empty(t) == v, where
        elif op == "sum":
            assert _bucket_sum(b, t) == v, where
        elif op == "bucket":
            assert b.buckets[math.floor(t) % b.window] == v, where


@pytest.mark.parametrize("digits,value,want", ROUND_TO_N_DIGITS)
def test_round_to_n_digits_matches_knative(digits: int, value: float, want: float) -> None:
    """TestRoundToNDigits."""
    assert round_to_n_digits(digits, value) == want


def test_six_digit_rounding_flips_a_ceil_at_a_boundary_as_knative_does() -> None:
    """roundToNDigits(6) before ceil(avg / target): an average of 1.0000006 (1 + 6e-7 in 10 buckets)
    rounds to 1.000001 and asks for 2 pods at target 1, as Knative does (floored, it was 1.0: 1 pod)."""
    b = TimedBuckets(10)
    for t in range(10):
        b.record(t, 1.0)
    b.record(9, 6e-6)  # total 10.000006 over 10 buckets
    avg = b.window_average(9)
    assert avg == 1.000001
    spec = DeciderSpec(target_value=1.0, total_value=1.0, target_burst_capacity=0, panic_threshold=1000,
                       max_scale_up_rate=10, max_scale_down_rate=2, stable_window_s=60)
    r, _ = decide(spec, DeciderState(), Observation(10, avg, avg, 1))
    assert r.desired_pods == 2


# --- pkg/reconciler/autoscaling/kpa/scaler_test.go (TestScaler) ----------------------------------------------


SCALER_CLUSTER = dict(stable_window_s=300, scale_to_zero_grace_period_s=60.0, progress_deadline_s=121.0,
                      target_burst_capacity=200.0)


@pytest.mark.parametrize("row", SCALER_ROWS, ids=lambda r: r["label"])
def test_reconciler_matches_knative_scaler_tests(row: dict[str, Any]) -> None:
    now = 10_000.0
    cfg = KpaConfig(**{**SCALER_CLUSTER, "min_scale": row.get("min_scale", 0), "max_scale": row.get("max_scale", 0),
                       **row.get("cfg", {})})
    status, ago, *initialized = row.get("pa", ("activating", 0.0))
    proxy_for = row.get("sks_proxy_for")
    pa = PaState(status=status, since=now - ago, scale_target_initialized=bool(initialized and initialized[0]),
                 proxy_since=None if proxy_for is None else now - proxy_for)
    res, _ = reconcile(cfg, pa, row["scale_to"], 0, now, row["start"], reachable=row.get("reachable", True))
    assert res.want == row["want"]
    scaling = res.scale is not None and res.scale != row["start"]
    assert scaling == row["scaling"], res


# --- resources/target_test.go and metric_test.go --------------------------------------------------------------


@pytest.mark.parametrize("row", TARGET_ROWS, ids=[r[0] for r in TARGET_ROWS])
def test_target_resolution_matches_knative(row: tuple) -> None:
    """TestResolveMetricTarget: ConfigMap utilisation for concurrency, a fixed 0.7 for RPS, the annotation
    overriding either, the target annotation capped by containerConcurrency, at least 0.01."""
    _, cc, metric, target, tu, fraction, cc_default, want_target, want_total = row
    cfg = KpaConfig(container_concurrency=cc, metric=metric, target=None if target is None else float(target),
                    target_utilization_percentage=None if tu is None else float(tu),
                    container_concurrency_target_fraction=fraction, container_concurrency_target_default=cc_default)
    assert cfg.total_value == want_total
    assert cfg.target_value == pytest.approx(want_target, rel=1e-12)


@pytest.mark.parametrize("row", PANIC_WINDOW_ROWS, ids=[r[0] for r in PANIC_WINDOW_ROWS])
def test_panic_window_matches_knative(row: tuple) -> None:
    """TestMakeMetric: stable window x percentage, rounded to the second, at least one bucket."""
    from planner.knative_config import revision_fields

    _, window, pct, want_stable, want_panic = row
    anns = {}
    if window:
        anns["autoscaling.knative.dev/window"] = window
    if pct:
        anns["autoscaling.knative.dev/panic-window-percentage"] = pct
    cfg = KpaConfig(**revision_fields(anns, AutoscalerDefaults()))
    assert (cfg.stable_window_s, cfg.panic_window_s) == (want_stable, want_panic)


# --- config/config_test.go and annotation_validation_test.go --------------------------------------------------


def _upstream_data() -> tuple[dict[str, str], dict[str, str]]:
    """The upstream ConfigMap's data without ``_example``, and the ``_example`` block's key/values."""
    if not UPSTREAM_CONFIGMAP.exists():
        pytest.skip(f"{UPSTREAM_CONFIGMAP} not found")
    data = yaml.safe_load(UPSTREAM_CONFIGMAP.read_text())["data"]
    example = yaml.safe_load(data.pop("_example"))
    return {k: str(v) for k, v in data.items()}, {k: str(v) for k, v in example.items()}


@pytest.mark.parametrize("which", ["actual", "example"])
def test_upstream_configmap_parses_to_the_defaults(which: str) -> None:
    """TestNewConfig "actual" and "example": Knative's own ConfigMap yields exactly its defaults."""
    actual, example = _upstream_data()
    assert parse_config_autoscaler(actual if which == "actual" else example) == AutoscalerDefaults()


@pytest.mark.parametrize("row", CONFIG_ROWS, ids=[r[0] for r in CONFIG_ROWS])
def test_configmap_matches_knative_config_tests(row: tuple) -> None:
    _, data, want, error = row
    if error is None:
        assert parse_config_autoscaler(data) == replace(AutoscalerDefaults(), **want)
    else:
        with pytest.raises(KnativeConfigError) as info:
            parse_config_autoscaler(data)
        assert error in str(info.value)


@pytest.mark.parametrize("row", ANNOTATION_ROWS, ids=[r[0] for r in ANNOTATION_ROWS])
def test_annotations_match_knative_webhook_tests(row: tuple) -> None:
    _, short, cluster, want = row
    anns = {("autoscaling.knative.dev/" + k): v for k, v in short.items()}
    assert "\n".join(annotation_errors(anns, replace(AutoscalerDefaults(), **cluster))) == want


def test_durations_are_seconds_in_the_planner() -> None:
    """The ConfigMap's nanoseconds become the planner's seconds without loss."""
    from planner.knative_config import _cluster_fields

    fields = _cluster_fields(parse_config_autoscaler({"scale-to-zero-pod-retention-period": "2m3s"}))
    assert fields["scale_to_zero_pod_retention_period_s"] == 123.0 and NS_PER_S == 1_000_000_000
