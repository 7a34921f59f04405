"""Test vectors read out of knative/serving's own unit tests (facts: inputs and expected outputs), as data.

Each table names the upstream test (and sub-test) it comes from. The tables import nothing of the planner,
so the same vectors can be run against any implementation (``test_knative_vectors.py`` runs them against
ours). Upstream files, at knative/serving main (2026-08):

- ``pkg/autoscaler/scaling/autoscaler_test.go``       -> DECIDER_SCENARIOS, INITIAL_PANIC
- ``pkg/autoscaler/aggregation/bucketing_test.go``    -> BUCKET_SCENARIOS, ROUND_TO_N_DIGITS
- ``pkg/reconciler/autoscaling/kpa/scaler_test.go``   -> SCALER_ROWS
- ``pkg/reconciler/autoscaling/resources/target_test.go`` / ``metric_test.go`` -> TARGET_ROWS, PANIC_WINDOW_ROWS
- ``pkg/autoscaler/config/config_test.go``            -> CONFIG_ROWS
- ``pkg/apis/autoscaling/annotation_validation_test.go`` -> ANNOTATION_ROWS

Left out, with the reason: weighted-exponential buckets and window resizing (not modeled: the planner
refuses the weighted algorithm and keeps one window per run), buckets of a granularity other than 1 s
(Knative's BucketSize is 1 s), the autoscaler's OpenTelemetry metrics, a pod counter that errors (the
simulation always knows its pods) and the activator prober failing (the simulated activator answers).
"""

from __future__ import annotations

import math
from typing import Any

# --- pkg/autoscaler/scaling/autoscaler_test.go ------------------------------------------------------------
# The upstream helpers: newTestAutoscaler(target, tbc) builds a DeciderSpec with TotalValue = target / 0.75,
# PanicThreshold 2, MaxScaleUpRate 10, MaxScaleDownRate 10, StableWindow 60 s, Reachable, starting with one
# ready pod (two with startInPanic); expectedEBC(totCap, tbc, panic, pods) = floor(totCap / 0.75 * pods -
# tbc - panic), compared +-1 (approxEquateInt32).
TEST_UTILIZATION = 0.75
T0 = 1_000_000.0  # "time.Now()": any even second will do (the delay window indexes time / 2 s)


def expected_ebc(tot_cap: float, tbc: float, panic: float, pods: float) -> int:
    return math.floor(tot_cap / TEST_UTILIZATION * pods - tbc - panic)


def spec(target: float, tbc: float, **over: Any) -> dict[str, Any]:
    s = {"target_value": target, "total_value": target / TEST_UTILIZATION, "target_burst_capacity": tbc,
         "panic_threshold": 2.0, "max_scale_up_rate": 10.0, "max_scale_down_rate": 10.0, "stable_window_s": 60.0,
         "scale_down_delay_s": 0.0, "activation_scale": 0, "reachable": True}
    s.update(over)
    return s


# The TestAutoscalerScaleDownDelay* specs: TotalValue and TBC unset (0), PanicThreshold 100, no ready pods.
_DELAY = {"target_value": 10.0, "total_value": 0.0, "target_burst_capacity": 0.0, "panic_threshold": 100.0,
          "max_scale_up_rate": 10.0, "max_scale_down_rate": 10.0, "stable_window_s": 0.0,
          "scale_down_delay_s": 300.0, "activation_scale": 0, "reachable": True}


def step(now: float, ready: int, stable: float | None, panic: float, desired: int, ebc: int | None,
         valid: bool = True, **extra: Any) -> dict[str, Any]:
    """One ``Scale(now)`` call: inputs and the expected ScaleResult (+ optional spec update / panic checks)."""
    return {"now": now, "ready": ready, "stable": stable, "panic": panic, "desired": desired, "ebc": ebc,
            "valid": valid, **extra}


DECIDER_SCENARIOS: list[dict[str, Any]] = [
    {"name": "TestAutoscalerScaleDownDelay/simple+gradual", "spec": _DELAY, "initial_ready": 0, "steps": [
        step(2, 0, 40, 40, 4, 0),
        step(300, 0, 0, 0, 4, 0),  # five minutes at reduced concurrency: still delayed
        step(302, 0, 0, 0, 0, 0),  # five minutes and two seconds: now scale down
        step(540, 0, 40, 40, 4, 0),
        step(600, 0, 30, 30, 4, 0),  # 4 still dominates
        step(660, 0, 0, 0, 4, 0),
        step(840, 0, 0, 0, 3, 0),  # 4 scrolls out, drop to 3
        step(900, 0, 0, 0, 0, 0),  # everything scrolled out
    ]},
    {"name": "TestAutoscalerScaleDownDelayNotReachable", "spec": _DELAY, "initial_ready": 0, "steps": [
        step(2, 0, 40, 40, 4, 0),
        step(60, 0, 0, 0, 4, 0),
        # marked unreachable (another revision coming up): the delay no longer applies
        step(2, 0, 0, 0, 0, 0, spec={"reachable": False}),
    ]},
    {"name": "TestAutoscalerScaleDownDelayZero", "spec": {**_DELAY, "scale_down_delay_s": 0.0, "reachable": False},
     "initial_ready": 0, "steps": [
        step(0, 0, 40, 40, 4, 0),
        step(0.5, 0, 20, 20, 2, 0),  # no delay: scale down at once
    ]},
    {"name": "TestAutoscalerNoDataNoAutoscale", "spec": spec(10, 100), "initial_ready": 1, "steps": [
        step(T0, 1, None, 0, 0, 0, valid=False),
    ]},
    {"name": "TestAutoscalerMetrics", "spec": spec(10, 100), "initial_ready": 1, "steps": [
        step(T0, 1, 50, 50, 5, expected_ebc(10, 100, 50, 1)),
    ]},
    {"name": "TestAutoscalerMetricsWithRPS", "spec": spec(10, 100), "initial_ready": 1, "steps": [
        step(T0 + 61, 1, 100, 99, 10, expected_ebc(10, 100, 99, 1)),
    ]},
    {"name": "TestAutoscalerStableModeIncreaseWithConcurrencyDefault", "spec": spec(10, 101), "initial_ready": 1,
     "steps": [
        step(T0, 1, 50, 10, 5, expected_ebc(10, 101, 10, 1)),
        step(T0, 1, 100, 10, 10, expected_ebc(10, 101, 10, 1)),
    ]},
    {"name": "TestAutoscalerStableModeIncreaseWithRPS", "spec": spec(10, 101), "initial_ready": 1, "steps": [
        step(T0, 1, 50, 50, 5, expected_ebc(10, 101, 50, 1)),
        step(T0, 1, 100, 99, 10, expected_ebc(10, 101, 99, 1)),
    ]},
    {"name": "TestAutoscalerUnpanicAfterSlowIncrease", "spec": spec(1, 98), "initial_ready": 1, "steps": [
        step(T0, 10, 11, 25, 25, expected_ebc(1, 98, 25, 10), panic_time=T0),
        step(T0 + 30, 40, 30, 41, 41, expected_ebc(1, 98, 41, 40), panic_time=T0),  # panic time not moved
        step(T0 + 62, 55, 50, 56, 50, expected_ebc(1, 98, 56, 55), panic_time=None),  # no longer in panic
    ]},
    {"name": "TestAutoscalerExtendPanicWindow", "spec": spec(1, 98), "initial_ready": 1, "steps": [
        step(T0, 10, 11, 25, 25, expected_ebc(1, 98, 25, 10), panic_time=T0),
        step(T0 + 30, 40, 30, 80, 80, expected_ebc(1, 98, 80, 40), panic_time=T0 + 30),  # still surging
    ]},
    {"name": "TestAutoscalerStableModeDecrease", "spec": spec(10, 98), "initial_ready": 1, "steps": [
        step(T0, 8, 100, 100, 10, expected_ebc(10, 98, 100, 8)),
        step(T0, 8, 50, 50, 5, expected_ebc(10, 98, 50, 8)),
    ]},
    {"name": "TestAutoscalerStableModeNoTrafficScaleToZero", "spec": spec(10, 75), "initial_ready": 1, "steps": [
        step(T0, 1, 1, 0, 1, expected_ebc(10, 75, 0, 1)),
        step(T0, 1, 0, 0, 0, expected_ebc(10, 75, 0, 1)),
    ]},
    {"name": "TestAutoscalerActivationScale", "spec": spec(10, 75, activation_scale=2), "initial_ready": 1,
     "steps": [
        step(T0, 1, 0, 0, 0, expected_ebc(10, 75, 0, 1)),
        step(T0, 1, 1, 0, 2, expected_ebc(10, 75, 0, 1)),
    ]},
    {"name": "TestAutoscalerPanicModeExponentialTrackAndStabilize", "spec": spec(1, 101), "initial_ready": 1,
     "steps": [
        step(T0, 1, 6, 6, 6, expected_ebc(1, 101, 6, 1)),
        step(T0, 6, 36, 36, 36, expected_ebc(1, 101, 36, 6), panic_time=T0),
        step(T0 + 1, 36, 216, 216, 216, expected_ebc(1, 101, 216, 36), panic_time=T0 + 1),
        step(T0 + 1, 216, 1296, 1296, 1296, expected_ebc(1, 101, 1296, 216), panic_time=T0 + 1),
        step(T0 + 2, 1296, 1296, 1296, 1296, expected_ebc(1, 101, 1296, 1296)),
    ]},
    # TestAutoscalerScale: a table of single calls.
    *[{"name": f"TestAutoscalerScale/{label}", "spec": sp, "initial_ready": 1, "state": st,
       "steps": [step(T0, base, stable, panic, want, ebc)]}
      for label, sp, st, base, stable, panic, want, ebc in [
        ("AutoscalerNoDataAtZeroNoAutoscale", spec(10, 100), None, 1, 0, 0, 0, expected_ebc(10, 100, 0, 1)),
        ("AutoscalerNoDataAtZeroNoAutoscaleWithExplicitEPs", spec(10, 100), None, 1, 0, 0, 0,
         expected_ebc(10, 100, 0, 1)),
        ("AutoscalerStableModeUnlimitedTBC", spec(181, -1), None, 1, 21, 26, 1, -1),
        ("Autoscaler0TBC", spec(10, 0), None, 1, 50, 49, 5, 0),
        ("AutoscalerStableModeNoChange", spec(10, 100), None, 1, 50, 50, 5, expected_ebc(10, 100, 50, 1)),
        ("AutoscalerPanicStableLargerThanPanic", spec(1, 100), {"panic_time": T0 - 5, "max_panic_pods": 5}, 5,
         50, 30, 50, expected_ebc(1, 100, 30, 5)),
        ("AutoscalerPanicStableLessThanPanic", spec(1, 100), {"panic_time": T0 - 5, "max_panic_pods": 5}, 5,
         20, 30, 30, expected_ebc(1, 100, 30, 5)),
        ("AutoscalerStableModeNoChangeAlreadyScaled", spec(10, 100), None, 5, 50, 50, 5,
         expected_ebc(10, 100, 50, 5)),
        ("AutoscalerStableModeIncreaseWithSmallScaleUpRate", spec(1, 1982, max_scale_up_rate=1.1), None, 2,
         3, 3.1, 3, expected_ebc(1, 1982, 3.1, 2)),
        ("AutoscalerStableModeDecreaseWithSmallScaleDownRate", spec(10, 1982, max_scale_down_rate=1.1), None,
         100, 1, 1, 90, expected_ebc(10, 1982, 1, 100)),
        ("AutoscalerStableModeDecreaseNonReachable", spec(10, 1982, max_scale_down_rate=1.1, reachable=False),
         None, 100, 1, 1, 1, expected_ebc(10, 1982, 1, 100)),
        ("AutoscalerPanicModeDoublePodCount", spec(10, 84), None, 1, 50, 100, 10, expected_ebc(10, 84, 100, 1)),
      ]],
    {"name": "TestAutoscalerPanicThenUnPanicScaleDown", "spec": spec(10, 93), "initial_ready": 1, "steps": [
        step(T0, 1, 100, 100, 10, expected_ebc(10, 93, 100, 1)),
        step(T0, 10, 100, 1000, 100, expected_ebc(10, 93, 1000, 10)),
        step(T0 + 30, 10, 1, 1, 100, expected_ebc(10, 93, 1, 10)),  # traffic gone, still panicking
        step(T0 + 61, 10, 1, 1, 1, expected_ebc(10, 93, 1, 10)),  # after the stable window
    ]},
    {"name": "TestAutoscalerRateLimitScaleUp", "spec": spec(10, 61), "initial_ready": 1, "steps": [
        step(T0, 1, 1000, 1001, 10, expected_ebc(10, 61, 1001, 1)),
        step(T0, 10, 1000, 1001, 100, expected_ebc(10, 61, 1001, 10)),
    ]},
    {"name": "TestAutoscalerRateLimitScaleDown", "spec": spec(10, 61), "initial_ready": 1, "steps": [
        step(T0, 100, 1, 1, 10, expected_ebc(10, 61, 1, 100)),
        step(T0, 10, 1, 1, 1, expected_ebc(10, 61, 1, 10)),
    ]},
    {"name": "TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound", "spec": spec(10, 81), "initial_ready": 1,
     "steps": [
        step(T0, 0, 1000, 888, 10, expected_ebc(10, 81, 888, 0)),
    ]},
    {"name": "TestAutoscalerUpdateTarget", "spec": spec(10, 77), "initial_ready": 1, "steps": [
        step(T0, 1, 100, 101, 10, expected_ebc(10, 77, 101, 1)),
        step(T0, 10, 100, 101, 100, expected_ebc(1, 71, 101, 10),
             spec={"target_value": 1.0, "total_value": 1 / TEST_UTILIZATION, "target_burst_capacity": 71.0}),
    ]},
]

# TestStartInPanicMode / TestNewFail: a new autoscaler's panic state from the ready pods it finds
# (a pod counter error counts as 0). (ready, in panic, max panic pods)
INITIAL_PANIC: list[tuple[str, int, bool, int]] = [
    ("TestStartInPanicMode/0", 0, False, 0),
    ("TestStartInPanicMode/1", 1, False, 1),
    ("TestStartInPanicMode/2", 2, True, 2),
    ("TestNewFail", 0, False, 0),
]

# --- pkg/autoscaler/aggregation/bucketing_test.go ------------------------------------------------------------
# Operations on one TimedFloat64Buckets of 1 s granularity: ("record", t, value), ("average", t, want),
# ("empty", t, want), ("sum", t, want) = the forEachBucket sum from the last write back, ("bucket", t, want)
# = the value of second t.
N = 1_000_000  # "time.Now()" truncated to the second

BUCKET_SCENARIOS: list[dict[str, Any]] = [
    {"name": "TestTimedFloat64BucketsSimple/granularity = 1s", "window": 120, "ops": [
        ("empty", N, True),
        ("record", N, 1.0), ("record", N + 0.1, 10.0), ("record", N + 1, 1.0), ("record", N + 3, 1.0),
        ("bucket", N, 11.0), ("bucket", N + 1, 1.0), ("bucket", N + 2, 0.0), ("bucket", N + 3, 1.0),
    ]},
    {"name": "TestTimedFloat64BucketsSimple/empty", "window": 120, "ops": [("empty", N, True)]},
    {"name": "TestTimedFloat64BucketsManyReps", "window": 60, "ops": [
        *[("record", N + 1 + p, float(p + t)) for p in range(5) for t in range(5)],
        ("sum", N + 5, 100.0),
    ]},
    {"name": "TestTimedFloat64BucketsManyRepsWithNonMonotonicalOrder", "window": 60, "ops": [
        *[("record", N + d, float(p + t)) for p, d in enumerate([0, 3, 2, 1, 4]) for t in range(5)],
        ("sum", N + 4, 100.0),
    ]},
    {"name": "TestTimedFloat64BucketsWindowAverage", "window": 5, "ops": [
        ("record", N, 1.0),
        ("average", N, 1.0),  # firstWrite counts: not 0.2
        *[("record", N + i, float(i + 1)) for i in range(1, 5)],
        ("average", N + 4, 15 / 5),
        ("average", N + 3.6, 15 / 5),  # now lagging behind
        ("average", N + 6, (15 - 1 - 2) / (5 - 2)),  # short hole
        ("average", N + 10, 0.0),  # long hole
        ("record", N + 6, 91.0),
        ("average", N + 6, (15 - 1 - 2 + 91) / 5),  # write with holes
        ("record", N + 60, 1984.0),
        ("average", N + 60, 1984.0),  # advance much farther
        ("record", N + 57, 4.0),
        ("average", N + 60, (4 + 1984) / 4),  # an earlier time
        ("record", N + 61, 5.0),
        ("average", N + 61, (4 + 1984 + 5) / 5),
        ("record", N + 58, 10.0),
        ("average", N + 61, (4 + 10 + 1984 + 5) / 5),  # an earlier time again
        ("record", N + 55, 10.0),
        ("average", N + 61, (4 + 10 + 1984 + 5) / 5),  # too early: ignored
        ("record", N + 56, 10.0),
        ("average", N + 61, (4 + 10 + 1984 + 5) / 5),  # exactly a window earlier: ignored
        ("record", N + 66, 10.0),
        ("average", N + 66, 10.0),  # exactly a window of silence: the window starts afresh
    ]},
    {"name": "TestDescendingRecord", "window": 5, "ops": [
        *[("record", N + i, 5.0) for i in range(8, -1, -1)],
        ("average", N + 5, 5.0),
    ]},
    {"name": "TestTimedFloat64BucketsHoles", "window": 5, "ops": [
        *[("record", N + i, float(i + 1)) for i in range(5)],
        ("sum", N + 4, 15.0),
        ("average", N + 4, 15 / 5),
        ("record", N + 8, 2.0),  # seconds 5, 6, 7 become 0
        ("sum", N + 8, 7.0),
    ]},
]

# TestRoundToNDigits: (digits, value, want)
ROUND_TO_N_DIGITS: list[tuple[int, float, float]] = [
    (6, 3.6e-17, 0.0), (3, -3.6e-17, 0.0), (3, 0.0004, 0.0), (3, 1.2345, 1.235), (4, 1.2345, 1.2345),
    (6, 12345.0, 12345.0),
]

# --- pkg/reconciler/autoscaling/kpa/scaler_test.go (TestScaler) --------------------------------------------
# Its cluster: stable-window 5m, scale-to-zero-grace-period 60s, progress deadline 121 s (activation timeout
# 121 + 30 s), min-scale 0. A PA status is (status, seconds since its last transition, scale target
# initialized); "sks_proxy_for" is how long the SKS has been in proxy mode (None: serve mode).
# wantScaling: whether the deployment is patched, i.e. the applied scale differs from startReplicas.
GRACE, STABLE, PA_WINDOW, ACTIVATION_TIMEOUT = 60.0, 300.0, 45.0, 121.0 + 30.0

SCALER_ROWS: list[dict[str, Any]] = [
    dict(label="waits to scale to zero (just before idle period)", start=1, scale_to=0,
         pa=("active", STABLE - 1), want=1, scaling=False),
    dict(label="waits to scale to zero (just before idle period), custom PA window", start=1, scale_to=0,
         pa=("active", PA_WINDOW - 1), cfg={"stable_window_s": 45}, want=1, scaling=False),
    dict(label="custom PA window, check for standard window, no probe", start=1, scale_to=0,
         pa=("active", STABLE), cfg={"stable_window_s": 45}, want=0, scaling=False),
    dict(label="scale to 1 waiting for idle expires", start=10, scale_to=0, pa=("active", STABLE - 1),
         want=1, scaling=True),
    dict(label="waits to scale to zero after idle period", start=1, scale_to=0, pa=("active", STABLE),
         want=0, scaling=False),
    dict(label="waits to scale to zero after idle period; sks in proxy mode", start=1, scale_to=0,
         pa=("active", STABLE), sks_proxy_for=0.0, want=0, scaling=False),
    dict(label="waits to scale to zero after idle period (custom PA window)", start=1, scale_to=0,
         pa=("active", PA_WINDOW), cfg={"stable_window_s": 45}, want=0, scaling=False),
    dict(label="can scale to zero after grace period, but 0 PA retention", start=1, scale_to=0,
         pa=("inactive", GRACE), cfg={"scale_to_zero_pod_retention_period_s": 0.0}, want=0, scaling=True),
    dict(label="can't scale to zero after grace period, but before last pod retention", start=1, scale_to=0,
         pa=("inactive", GRACE), cfg={"scale_to_zero_pod_retention_period_s": 2 * GRACE}, want=0, scaling=False),
    dict(label="can't scale to zero after grace period, but before last pod retention, pa defined", start=1,
         scale_to=0, pa=("inactive", GRACE), cfg={"scale_to_zero_pod_retention_period_s": 2 * GRACE}, want=0,
         scaling=False),
    dict(label="scale to zero after grace period, and after last pod retention", start=1, scale_to=0,
         pa=("inactive", GRACE), cfg={"scale_to_zero_pod_retention_period_s": GRACE}, want=0, scaling=True),
    dict(label="scale to zero after grace period", start=1, scale_to=0, pa=("inactive", GRACE), want=0,
         scaling=True),
    dict(label="waits to scale to zero (just before grace period)", start=1, scale_to=0,
         pa=("inactive", GRACE - 1), want=0, scaling=False),
    dict(label="waits to scale to zero (just before grace period, sks short)", start=1, scale_to=0,
         pa=("inactive", GRACE - 1), sks_proxy_for=GRACE - 1, want=0, scaling=False),
    dict(label="waits to scale to zero (just before grace period, sks in proxy long) and last pod timeout "
               "positive", start=1, scale_to=0, pa=("inactive", GRACE - 1), sks_proxy_for=GRACE,
         cfg={"scale_to_zero_pod_retention_period_s": 42.0}, want=0, scaling=True),
    dict(label="waits to scale to zero (just before grace period, sks in proxy long)", start=1, scale_to=0,
         pa=("inactive", GRACE - 1), sks_proxy_for=GRACE, want=0, scaling=True),
    dict(label="scale to zero with TBC=-1", start=1, scale_to=0, pa=("inactive", GRACE),
         cfg={"target_burst_capacity": -1.0}, want=0, scaling=True),
    dict(label="waits to scale to zero while activating until after deadline exceeded", start=1, scale_to=0,
         pa=("activating", ACTIVATION_TIMEOUT / 2), want=-1, scaling=False),
    dict(label="scale to zero while activating after deadline exceeded", start=1, scale_to=0,
         pa=("activating", ACTIVATION_TIMEOUT + 1), want=0, scaling=True),
    dict(label="scale to zero while activating after revision deadline exceeded", start=1, scale_to=0,
         pa=("activating", 5 + 30 + 1), cfg={"progress_deadline_s": 5.0}, want=0, scaling=True),
    dict(label="scale down to minScale before grace period", start=10, scale_to=0, min_scale=2,
         pa=("inactive", GRACE - 1), want=2, scaling=True),
    dict(label="scale down to minScale after grace period", start=10, scale_to=0, min_scale=2,
         pa=("inactive", GRACE), want=2, scaling=True),
    dict(label="scale to zero ignore last pod retention if  revision is unreachable", start=1, scale_to=0,
         pa=("inactive", GRACE), reachable=False, cfg={"scale_to_zero_pod_retention_period_s": 10 * GRACE},
         want=0, scaling=True),
    dict(label="can't scale to zero if revision is unreachable, but before deadline", start=1, scale_to=0,
         pa=("inactive", GRACE - 1), reachable=False, cfg={"scale_to_zero_pod_retention_period_s": 10 * GRACE},
         want=0, scaling=False),
    dict(label="ignore minScale if unreachable", start=10, scale_to=0, min_scale=2, pa=("inactive", GRACE),
         reachable=False, want=0, scaling=True),
    dict(label="observe minScale if reachability unknown", start=10, scale_to=0, min_scale=2,
         pa=("inactive", GRACE), want=2, scaling=True),
    dict(label="scales up", start=1, scale_to=10, want=10, scaling=True),
    dict(label="scales up to maxScale", start=1, scale_to=10, max_scale=8, want=8, scaling=True),
    dict(label="scale up inactive revision", start=1, scale_to=10, pa=("inactive", GRACE / 2), want=10,
         scaling=True),
    dict(label="does not scale up from zero with no metrics", start=0, scale_to=-1, pa=("inactive", 0.0),
         want=-1, scaling=False),
    dict(label="scales up from zero to desired one", start=0, scale_to=1, want=1, scaling=True),
    dict(label="scales up from zero to desired high scale", start=0, scale_to=10, want=10, scaling=True),
    dict(label="negative scale does not scale", start=12, scale_to=-1, pa=("active", 0.0), want=-1,
         scaling=False),
    dict(label="initial scale attained, but now time to scale down", start=2, scale_to=0,
         pa=("active", 120.0, True), cfg={"initial_scale": 2}, want=1, scaling=True),
    dict(label="haven't scaled to initial scale, override desired scale with initial scale", start=0,
         scale_to=1, pa=("activating", 0.0), cfg={"initial_scale": 2}, want=2, scaling=True),
    dict(label="initial scale reached for the first time", start=5, scale_to=1, pa=("activating", 0.0),
         cfg={"initial_scale": 5}, want=5, scaling=False),
    dict(label="reaching initial scale zero", start=0, scale_to=0, pa=("inactive", 0.0),
         cfg={"initial_scale": 0, "allow_zero_initial_scale": True}, want=0, scaling=False),
    dict(label="unreachable revision with initialScale > 1 can scale to 0", start=2, scale_to=0,
         pa=("active", 120.0), reachable=False, cfg={"initial_scale": 2}, want=1, scaling=True),
]

# --- pkg/reconciler/autoscaling/resources/target_test.go (TestResolveMetricTarget) -------------------------
# Its cluster: container-concurrency-target fraction 1.0, default 100, RPS default 200 (RPS utilisation 0.7).
# (name, containerConcurrency, metric, target annotation, TU annotation, ConfigMap fraction, CC default,
#  want target, want total)
TARGET_ROWS: list[tuple[str, int, str, str | None, str | None, float, float, float, float]] = [
    ("defaults", 0, "concurrency", None, None, 1.0, 100, 100, 100),
    ("default CC + 80% TU", 0, "concurrency", None, None, 0.8, 100, 80, 100),
    ("non-default CC and TU", 0, "concurrency", None, None, 0.3, 2, 0.6, 2),
    ("with container concurrency 12 and TU=80%, but TU annotation 75%", 12, "concurrency", None, "75", 0.8, 100,
     9, 12),
    ("with container concurrency 10 and TU=80%", 10, "concurrency", None, None, 0.8, 100, 8, 10),
    ("with container concurrency 1 and TU=80%", 1, "concurrency", None, None, 0.8, 100, 0.8, 1),
    ("with container concurrency 1", 1, "concurrency", None, None, 1.0, 100, 1, 1),
    ("with container concurrency 10", 10, "concurrency", None, None, 1.0, 100, 10, 10),
    ("with target annotation 1", 0, "concurrency", "1", None, 1.0, 100, 1, 1),
    ("with target annotation 1 and TU=0.1%", 0, "concurrency", "1", None, 0.001, 100, 0.01, 1),
    ("with target annotation 1 and TU=75%", 0, "concurrency", "1", None, 0.75, 100, 0.75, 1),
    ("with target annotation 10 and TU=75%", 0, "concurrency", "10", None, 0.75, 100, 7.5, 10),
    ("with container concurrency greater than target annotation (ok)", 10, "concurrency", "1", None, 1.0, 100, 1, 1),
    ("with target annotation greater than default (ok)", 0, "concurrency", "500", None, 1.0, 100, 500, 500),
    ("with target annotation greater than container concurrency (ignore annotation for safety)", 1, "concurrency",
     "10", None, 1.0, 100, 1, 1),
    ("RPS: defaults", 1, "rps", None, None, 1.0, 100, 140, 200),
    ("RPS: with target annotation 1", 0, "rps", "1", None, 1.0, 100, 0.7, 1),
    ("RPS: with TU annotation 75%", 0, "rps", None, "75", 1.0, 100, 150, 200),
    ("RPS: with target annotation greater than default", 0, "rps", "300", None, 1.0, 100, 210, 300),
]

# --- pkg/reconciler/autoscaling/resources/metric_test.go (TestMakeMetric): the panic window --------------
# (name, window annotation, panic-window-percentage annotation, want stable s, want panic s)
PANIC_WINDOW_ROWS: list[tuple[str, str | None, str | None, int, int]] = [
    ("defaults", None, None, 60, 6),
    ("with too short panic window", "10s", "10", 10, 1),
    ("with longer stable window, no panic window percentage, defaults to 10%", "10m", None, 600, 60),
    ("with longer panic window percentage", None, "50", 60, 30),
    ("with panic window percentage+rounding", None, "51", 60, 31),
]

# --- pkg/autoscaler/config/config_test.go (TestNewConfig) --------------------------------------------------
# (name, ConfigMap data, expected fields of the parsed config (Knative's units: fractions, ns) or None, and
# for a rejected map the substring Knative's error has). "actual"/"example" come from the upstream
# ConfigMap in ../shared/knative-crds (its data and its _example block), read by the test.
S = 1_000_000_000
CONFIG_ROWS: list[tuple[str, dict[str, str], dict[str, Any] | None, str | None]] = [
    ("default", {}, {}, None),
    ("overridden", {
        "enable-scale-to-zero": "true", "max-scale-down-rate": "3.0", "max-scale-up-rate": "1.01",
        "container-concurrency-target-percentage": "0.71", "container-concurrency-target-default": "10.5",
        "requests-per-second-target-default": "10.11", "target-burst-capacity": "12345", "scale-down-delay": "15m",
        "stable-window": "5m", "tick-interval": "2s", "panic-window-percentage": "10",
        "panic-threshold-percentage": "200", "pod-autoscaler-class": "some.class", "activator-capacity": "905",
        "scale-to-zero-pod-retention-period": "2m3s"},
     {"target_burst_capacity": 12345.0, "container_concurrency_target_default": 10.5,
      "container_concurrency_target_fraction": 0.71, "rps_target_default": 10.11, "max_scale_down_rate": 3.0,
      "max_scale_up_rate": 1.01, "scale_down_delay_ns": 15 * 60 * S, "stable_window_ns": 5 * 60 * S,
      "activator_capacity": 905.0, "pod_autoscaler_class": "some.class",
      "scale_to_zero_pod_retention_period_ns": 123 * S}, None),
    ("minimum", {
        "max-scale-up-rate": "1.001", "container-concurrency-target-percentage": "0.5",
        "container-concurrency-target-default": "10.0", "target-burst-capacity": "0", "stable-window": "5m",
        "tick-interval": "2s", "panic-window-percentage": "10", "panic-threshold-percentage": "200",
        "activator-capacity": "1"},
     {"container_concurrency_target_fraction": 0.5, "container_concurrency_target_default": 10.0,
      "max_scale_up_rate": 1.001, "target_burst_capacity": 0.0, "stable_window_ns": 5 * 60 * S,
      "activator_capacity": 1.0}, None),
    ("concurrency target percentage as percent", {"container-concurrency-target-percentage": "55"},
     {"container_concurrency_target_fraction": 0.55}, None),
    ("with -1 tbc", {"target-burst-capacity": "-1"}, {"target_burst_capacity": -1.0}, None),
    ("with toggles on strange casing", {"enable-scale-to-zero": "TRUE"}, {}, None),
    ("with toggles explicitly flipped", {"enable-scale-to-zero": "false", "min-scale": "1", "max-scale": "2"},
     {"enable_scale_to_zero": False, "min_scale": 1, "max_scale": 2}, None),
    ("with explicit grace period", {"enable-scale-to-zero": "false", "scale-to-zero-grace-period": "33s",
                                    "min-scale": "1", "max-scale": "2"},
     {"enable_scale_to_zero": False, "scale_to_zero_grace_period_ns": 33 * S, "min_scale": 1, "max_scale": 2}, None),
    ("malformed float", {"max-scale-up-rate": "not a float"}, None,
     'failed to parse "max-scale-up-rate": strconv.ParseFloat: parsing "not a float": invalid syntax'),
    ("invalid scale-down-delay", {"scale-down-delay": "-1m23s"}, None, "scale-down-delay cannot be negative, was: -1m23s"),
    ("invalid pod retention period", {"scale-to-zero-pod-retention-period": "-4m11s"}, None,
     "scale-to-zero-pod-retention-period cannot be negative, was: -4m11s"),
    ("malformed duration", {"stable-window": "not a duration"}, None,
     'failed to parse "stable-window": time: invalid duration "not a duration"'),
    ("invalid target burst capacity", {"target-burst-capacity": "-11"}, None,
     "target-burst-capacity must be either non-negative or -1 (for unlimited), was: -11.000000"),
    ("invalid target %, too small", {"container-concurrency-target-percentage": "-42"}, None,
     "container-concurrency-target-percentage = -42.000000 is outside of valid range of (0, 100]"),
    ("invalid target %, too big", {"container-concurrency-target-percentage": "142.4"}, None,
     "container-concurrency-target-percentage = 1.424000 is outside of valid range of (0, 100]"),
    ("invalid RPS target, too small", {"requests-per-second-target-default": "-5.25"}, None,
     "requests-per-second-target-default must be at least 0.01, was: -5.25"),
    ("max scale up rate 1.0", {"max-scale-up-rate": "1"}, None, "max-scale-up-rate = 1, must be greater than 1.0"),
    ("max down down rate negative", {"max-scale-down-rate": "-55"}, None,
     "max-scale-down-rate = -55, must be greater than 1.0"),
    ("max down down rate 1.0", {"max-scale-down-rate": "1"}, None, "max-scale-down-rate = 1, must be greater than 1.0"),
    ("stable window too big", {"stable-window": "1h1s"}, None, "stable-window = 1h0m1s, must be in [6s; 1h0m0s] range"),
    ("stable window too small", {"stable-window": "1s"}, None, "stable-window = 1s, must be in [6s; 1h0m0s] range"),
    ("stable not seconds", {"stable-window": "61984ms"}, None,
     "stable-window = 1m1.984s, must be specified with at most second precision"),
    ("scale-down-delay not seconds", {"scale-down-delay": "61984ms"}, None,
     "scale-down-delay = 1m1.984s, must be specified with at most second precision"),
    ("activator-capacity invalid", {"activator-capacity": "0.95"}, None, "activator-capacity = 0.95, must be at least 1"),
    ("panic window percentage too small", {"panic-window-percentage": "0.1"}, None,
     "panic-window-percentage = 0.1, must be in [1, 100] interval"),
    ("panic window percentage too big", {"stable-window": "12s", "panic-window": "3s", "panic-window-percentage": "110"},
     None, "panic-window-percentage = 110, must be in [1, 100] interval"),
    ("TU*CC < 0.01", {"container-concurrency-target-percentage": "1", "container-concurrency-target-default": "0.001"},
     None, "yield target concurrency of 0.001, can't be less than 0.01"),
    ("grace window too small", {"stable-window": "12s", "scale-to-zero-grace-period": "0s"}, None,
     "scale-to-zero-grace-period must be positive, was: 0s"),
    ("with prohibited default initial scale", {"allow-zero-initial-scale": "false", "initial-scale": "0"}, None,
     "initial-scale = 0, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)"),
    ("with negative default initial scale", {"allow-zero-initial-scale": "false", "initial-scale": "-1"}, None,
     "initial-scale = -1, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)"),
    ("with non-parseable default initial scale", {"allow-zero-initial-scale": "false", "initial-scale": "invalid"},
     None, 'failed to parse "initial-scale": strconv.ParseInt: parsing "invalid": invalid syntax'),
    ("with valid default initial scale", {"allow-zero-initial-scale": "true", "initial-scale": "0"},
     {"allow_zero_initial_scale": True, "initial_scale": 0}, None),
    ("with non-parseable allow-zero-initial-scale", {"allow-zero-initial-scale": "invalid"}, None,
     'failed to parse "allow-zero-initial-scale": strconv.ParseBool: parsing "invalid": invalid syntax'),
    ("with negative default max scale", {"max-scale": "-1"}, None,
     "max-scale = -1, must be in [0, max-scale-limit(0)] range"),
    ("with valid default max scale", {"max-scale": "10"}, {"max_scale": 10}, None),
    ("max scale exceeding max scale limit", {"max-scale": "10", "max-scale-limit": "9"}, None,
     "max-scale = 10, must be in [1, max-scale-limit(9)] range"),
    ("with negative max scale limit", {"max-scale-limit": "-9"}, None, "max-scale-limit = -9, must be at least 0"),
    ("with max scale limit and zero default max scale", {"max-scale": "0", "max-scale-limit": "11"}, None,
     "max-scale = 0, must be in [1, max-scale-limit(11)] range"),
    ("with max scale less than min-scale", {"min-scale": "4", "max-scale": "3"}, None,
     "min-scale (4) must be less than max-scale (3)"),
    ("with min scale set but max-scale not set", {"min-scale": "4"}, {"min_scale": 4}, None),
    ("with valid default max scale and max scale limit", {"max-scale": "10", "max-scale-limit": "11"},
     {"max_scale": 10, "max_scale_limit": 11}, None),
]

# --- pkg/apis/autoscaling/annotation_validation_test.go (TestValidateAnnotations) ---------------------------
# (name, annotations (short keys get the autoscaling.knative.dev/ prefix), cluster changes, expected error
# ("" = valid), exactly as Knative's FieldError renders it).
A = "autoscaling.knative.dev/"
ANNOTATION_ROWS: list[tuple[str, dict[str, str], dict[str, Any], str]] = [
    ("empty annotations", {}, {}, ""),
    ("invalid class", {"class": "unsupported.knative.dev"}, {}, f"invalid value: unsupported.knative.dev: {A}class"),
    ("non-knative.dev domain class", {"class": "some.other.domain"}, {}, ""),
    ("minScale is 0", {"min-scale": "0"}, {}, ""),
    ("maxScale is 0", {"max-scale": "0"}, {}, ""),
    ("minScale is -1", {"min-scale": "-1"}, {}, f"expected 0 <= -1 <= 2147483647: {A}min-scale"),
    ("maxScale is huuuuuuuge", {"max-scale": "2147483648"}, {}, f"expected 0 <= 2147483648 <= 2147483647: {A}max-scale"),
    ("maxScale is -1", {"max-scale": "-1"}, {}, f"expected 0 <= -1 <= 2147483647: {A}max-scale"),
    ("minScale is foo", {"min-scale": "foo"}, {}, f"invalid value: foo: {A}min-scale"),
    ("maxScale is bar", {"max-scale": "bar"}, {}, f"invalid value: bar: {A}max-scale"),
    ("max/minScale is bar", {"max-scale": "bar", "min-scale": "bar"}, {},
     f"invalid value: bar: {A}max-scale, {A}min-scale"),
    ("minScale is 5", {"min-scale": "5"}, {}, ""),
    ("maxScale is 2", {"max-scale": "2"}, {}, ""),
    ("minScale is 2, maxScale is 5", {"min-scale": "2", "max-scale": "5"}, {}, ""),
    ("minScale is 5, maxScale is 2", {"min-scale": "5", "max-scale": "2"}, {},
     f"max-scale=2 is less than min-scale=5: {A}max-scale, {A}min-scale"),
    ("minScale is 0, maxScale is 0", {"min-scale": "0", "max-scale": "0"}, {}, ""),
    ("maxScale is greater than MaxScaleLimit when in create", {"max-scale": "11"}, {"max_scale_limit": 10},
     f"expected 1 <= 11 <= 10: {A}max-scale"),
    ("maxScale is greater than MaxScaleLimit when in create and default MaxScale is set", {"max-scale": "20"},
     {"max_scale_limit": 10, "max_scale": 11}, f"expected 1 <= 20 <= 10: {A}max-scale"),
    ("maxScale is explicitly set to 0 when MaxScaleLimit and default MaxScale are set", {"max-scale": "0"},
     {"max_scale_limit": 10, "max_scale": 1}, f"max-scale=0 (unlimited), must be less than 10: {A}max-scale"),
    ("maxScale is not set when both MaxScaleLimit and default MaxScale are set", {},
     {"max_scale_limit": 10, "max_scale": 11}, ""),
    ("maxScale is less than MaxScaleLimit", {"max-scale": "9"}, {"max_scale_limit": 10}, ""),
    ("min-scale, activation-scale, max-scale all set appropriately",
     {"min-scale": "1", "activation-scale": "2", "max-scale": "3"}, {}, ""),
    ("min-scale is greater than activation-scale", {"min-scale": "3", "activation-scale": "2"}, {},
     f"min-scale=3 is greater than activation-scale=2: {A}activation-scale"),
    ("max-scale is less than activation-scale", {"max-scale": "1", "activation-scale": "2"}, {},
     f"max-scale=1 is less than activation-scale=2: {A}activation-scale"),
    ("valid algorithm on KPA", {"metric-aggregation-algorithm": "linear", "class": "kpa.autoscaling.knative.dev"},
     {}, ""),
    ("empty algorithm", {"metric-aggregation-algorithm": "", "class": "kpa.autoscaling.knative.dev"}, {}, ""),
    ("random algorithm on KPA", {"metric-aggregation-algorithm": "random-selection",
                                 "class": "kpa.autoscaling.knative.dev"}, {},
     f"invalid value: random-selection: {A}metric-aggregation-algorithm"),
    ("random algorithm on non KPA", {"metric-aggregation-algorithm": "random-selection", "class": "of-keys"}, {}, ""),
    ("panic window percentage bad", {"panic-window-percentage": "-1"}, {},
     f"expected 1 <= -1 <= 100: {A}panic-window-percentage"),
    ("panic window percentage bad2", {"panic-window-percentage": "202"}, {},
     f"expected 1 <= 202 <= 100: {A}panic-window-percentage"),
    ("panic window percentage bad3", {"panic-window-percentage": "fifty"}, {},
     f"invalid value: fifty: {A}panic-window-percentage"),
    ("panic window percentage good", {"panic-threshold-percentage": "210"}, {}, ""),
    ("panic threshold percentage bad2", {"panic-threshold-percentage": "109"}, {},
     f"expected 110 <= 109 <= 1000: {A}panic-threshold-percentage"),
    ("panic threshold percentage bad2.5", {"panic-threshold-percentage": "10009"}, {},
     f"expected 110 <= 10009 <= 1000: {A}panic-threshold-percentage"),
    ("panic threshold percentage bad3", {"panic-threshold-percentage": "fifty"}, {},
     f"invalid value: fifty: {A}panic-threshold-percentage"),
    ("target negative", {"target": "-11"}, {}, f"target -11 should be at least 0.01: {A}target"),
    ("target 0", {"target": "0"}, {}, f"target 0 should be at least 0.01: {A}target"),
    ("invalid target", {"target": "100}"}, {}, f"invalid value: 100}}: {A}target"),
    ("target okay", {"target": "11"}, {}, ""),
    ("TBC negative", {"target-burst-capacity": "-11"}, {}, f"invalid value: -11: {A}target-burst-capacity"),
    ("TBC 0", {"target-burst-capacity": "0"}, {}, ""),
    ("TBC 19880709", {"target-burst-capacity": "19870709"}, {}, ""),
    ("TBC -1", {"target-burst-capacity": "-1"}, {}, ""),
    ("TBC invalid", {"target-burst-capacity": "qarashen"}, {}, f"invalid value: qarashen: {A}target-burst-capacity"),
    ("TU too small", {"target-utilization-percentage": "0"}, {},
     f"expected 1 <= 0 <= 100: {A}target-utilization-percentage"),
    ("TU too big", {"target-utilization-percentage": "101"}, {},
     f"expected 1 <= 101 <= 100: {A}target-utilization-percentage"),
    ("TU invalid", {"target-utilization-percentage": "dghyak"}, {},
     f"invalid value: dghyak: {A}target-utilization-percentage"),
    ("window invalid", {"window": "jerry-was-a-racecar-driver"}, {},
     f"invalid value: jerry-was-a-racecar-driver: {A}window"),
    ("window too short", {"window": "1s"}, {}, f"expected 6s <= 1s <= 1h0m0s: {A}window"),
    ("window too long", {"window": "365h"}, {}, f"expected 6s <= 365h <= 1h0m0s: {A}window"),
    ("window too precise", {"window": "1m9s82ms"}, {}, f"must be specified with at most second precision: {A}window"),
    ("annotation /window is valid for class KPA", {"window": "7s", "class": "kpa.autoscaling.knative.dev"}, {}, ""),
    ("annotation /window is valid for other than HPA and KPA class", {"window": "7s", "class": "test"}, {}, ""),
    ("value too long and valid class for /window annotation", {"window": "365h", "class": "kpa.autoscaling.knative.dev"},
     {}, f"expected 6s <= 365h <= 1h0m0s: {A}window"),
    ("valid 0 last pod scaledown timeout", {"scale-to-zero-pod-retention-period": "0"}, {}, ""),
    ("valid positive last pod scaledown timeout", {"scale-to-zero-pod-retention-period": "21m31s"}, {}, ""),
    ("invalid positive last pod scaledown timeout", {"scale-to-zero-pod-retention-period": "311m"}, {},
     f"expected 0s <= 311m <= 1h0m0s: {A}scale-to-zero-pod-retention-period"),
    ("invalid negative last pod scaledown timeout", {"scale-to-zero-pod-retention-period": "-42s"}, {},
     f"expected 0s <= -42s <= 1h0m0s: {A}scale-to-zero-pod-retention-period"),
    ("invalid last pod scaledown timeout", {"scale-to-zero-pod-retention-period": "twenty-two-minutes-and-five-seconds"},
     {}, f"invalid value: twenty-two-minutes-and-five-seconds: {A}scale-to-zero-pod-retention-period"),
    ("valid 0 scale down delay", {"scale-down-delay": "0"}, {}, ""),
    ("valid positive scale down delay", {"scale-down-delay": "21m31s"}, {}, ""),
    ("invalid positive scale down delay", {"scale-down-delay": "311m"}, {},
     f"expected 0s <= 311m <= 1h0m0s: {A}scale-down-delay"),
    ("invalid positive scale down delay - too precise", {"scale-down-delay": "42.5s"}, {},
     f"must be specified with at most second precision: {A}scale-down-delay"),
    ("invalid negative scale down delay", {"scale-down-delay": "-42s"}, {},
     f"expected 0s <= -42s <= 1h0m0s: {A}scale-down-delay"),
    ("invalid scale down delay", {"scale-down-delay": "twenty-two-minutes-and-five-seconds"}, {},
     f"invalid value: twenty-two-minutes-and-five-seconds: {A}scale-down-delay"),
    ("all together now fail", {"panic-threshold-percentage": "fifty", "panic-window-percentage": "-11",
                               "min-scale": "-4", "max-scale": "never"}, {},
     f"expected 0 <= -4 <= 2147483647: {A}min-scale\nexpected 1 <= -11 <= 100: {A}panic-window-percentage\n"
     f"invalid value: fifty: {A}panic-threshold-percentage\ninvalid value: never: {A}max-scale"),
    ("all together now, succeed", {"panic-threshold-percentage": "125", "panic-window-percentage": "75",
                                   "min-scale": "5", "max-scale": "8", "window": "1984s"}, {}, ""),
    ("invalid metric for default class(KPA)", {"metric": "cpu"}, {}, f"invalid value: cpu: {A}metric"),
    ("invalid metric for HPA class", {"metric": "", "class": "hpa.autoscaling.knative.dev"}, {},
     f"invalid value: : {A}metric"),
    ("valid class KPA with metric RPS", {"metric": "rps"}, {}, ""),
    ("valid class KPA with metric Concurrency", {"metric": "concurrency"}, {}, ""),
    ("valid class HPA with metric CPU", {"class": "hpa.autoscaling.knative.dev", "metric": "cpu"}, {}, ""),
    ("other than HPA and KPA class", {"class": "other", "metric": "rps"}, {}, ""),
    ("initial scale is zero but cluster doesn't allow", {"initial-scale": "0"}, {},
     f"invalid value: 0: {A}initial-scale=0 not allowed by cluster"),
    ("valid global class HPA with metric CPU", {"metric": "cpu"},
     {"pod_autoscaler_class": "hpa.autoscaling.knative.dev"}, ""),
    ("initial scale is zero and cluster allows", {"initial-scale": "0"}, {"allow_zero_initial_scale": True}, ""),
    ("initial scale is greater than 0", {"initial-scale": "2"}, {}, ""),
    ("initial scale is less than 0", {"initial-scale": "-1"}, {},
     f"invalid value: -1: {A}initial-scale must be greater than 0"),
    ("initial scale non-parseable", {"initial-scale": "invalid"}, {}, f"invalid value: invalid: {A}initial-scale"),
]
