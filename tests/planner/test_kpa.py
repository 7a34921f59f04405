"""The KPA decider and reconciler against knative/serving's documented and coded behaviour.

Every expected number below is worked out by hand from Knative's rules, not read back from the code.
"""

from __future__ import annotations

import pytest

from planner.kpa import (
    DeciderState,
    Kpa,
    KpaConfig,
    Observation,
    PaState,
    ScaleResult,
    TimedBuckets,
    initial_excess_burst_capacity,
    reconcile,
)
from planner.kpa import decide as decide_spec


def obs(stable: float, panic: float | None = None, ready: int = 1, now: float = 0.0,
        reachable: bool = True) -> tuple[Observation, bool]:
    return Observation(now=now, stable=stable, panic=stable if panic is None else panic, ready_pods=ready), reachable


def decide(cfg: KpaConfig, state: DeciderState, o: tuple[Observation, bool] | Observation) -> tuple[ScaleResult, DeciderState]:
    """The decider with the spec Knative resolves from ``cfg`` (reachability travels with the observation)."""
    ob, reachable = o if isinstance(o, tuple) else (o, True)
    return decide_spec(cfg.decider_spec(reachable), state, ob)


# --- targets -------------------------------------------------------------------------------------


def test_target_is_container_concurrency_times_utilization() -> None:
    cfg = KpaConfig(container_concurrency=10)
    assert cfg.target_value == pytest.approx(7.0)
    # 10 concurrent requests at a per-pod target of 7 -> ceil(10/7) = 2 pods.
    r, _ = decide(cfg, DeciderState(), obs(10.0, 10.0, ready=2))
    assert r.desired_pods == 2


def test_unlimited_concurrency_targets_the_default_100_at_70_percent() -> None:
    assert KpaConfig().target_value == pytest.approx(70.0)
    assert KpaConfig(metric="rps").target_value == pytest.approx(140.0)


def test_target_annotation_never_exceeds_container_concurrency() -> None:
    assert KpaConfig(container_concurrency=5, target=10).target_value == pytest.approx(3.5)
    assert KpaConfig(container_concurrency=0, target=10).target_value == pytest.approx(7.0)
    assert KpaConfig(container_concurrency=5, target=2, target_utilization_percentage=100).target_value == 2.0


def test_target_has_a_floor_of_0_01() -> None:
    assert KpaConfig(target=0.01, target_utilization_percentage=1).target_value == 0.01


def test_panic_window_is_a_rounded_percentage_of_the_stable_window() -> None:
    assert KpaConfig().panic_window_s == 6
    assert KpaConfig(stable_window_s=25).panic_window_s == 3  # 2.5 s rounds half away from zero
    assert KpaConfig(stable_window_s=6).panic_window_s == 1  # 0.6 s -> at least one bucket


# --- panic mode ----------------------------------------------------------------------------------


def test_panic_starts_when_panic_pods_reach_twice_ready_pods() -> None:
    cfg = KpaConfig(container_concurrency=10)  # target 7
    _, s = decide(cfg, DeciderState(), obs(1.0, 7.0, ready=1))  # ceil(7/7) = 1 pod: 1/1 < 2
    assert not s.in_panic
    r, s = decide(cfg, DeciderState(), obs(1.0, 7.01, ready=1))  # ceil(7.01/7) = 2 pods: 2/1 >= 2
    assert s.in_panic and s.panic_time == 0.0
    assert r.desired_pods == 2  # panic pods win over the stable pod


def test_no_scale_down_while_panicking() -> None:
    cfg = KpaConfig(container_concurrency=10)
    r, s = decide(cfg, DeciderState(), obs(5.0, 70.0, ready=1, now=0))
    assert r.desired_pods == 10 and s.max_panic_pods == 10
    r, s = decide(cfg, s, obs(5.0, 7.0, ready=10, now=2))  # load gone, still within the stable window
    assert s.in_panic
    assert r.desired_pods == 10


def test_panic_is_left_only_after_a_full_stable_window_below_threshold() -> None:
    cfg = KpaConfig(container_concurrency=10)
    _, s = decide(cfg, DeciderState(), obs(5.0, 70.0, ready=1, now=100))
    _, s = decide(cfg, s, obs(5.0, 7.0, ready=10, now=160))  # 100 + 60 is not before 160
    assert s.in_panic
    r, s = decide(cfg, s, obs(5.0, 7.0, ready=10, now=162))
    assert not s.in_panic and s.max_panic_pods == 0
    assert r.desired_pods == 5  # stable ceil(5/7)=1, but max-scale-down-rate 2 allows only 10 -> 5


def test_staying_over_threshold_extends_panic() -> None:
    cfg = KpaConfig(container_concurrency=10)
    _, s = decide(cfg, DeciderState(), obs(5.0, 70.0, ready=1, now=0))
    _, s = decide(cfg, s, obs(5.0, 200.0, ready=10, now=30))  # 29 pods / 10 ready >= 2: extend
    assert s.panic_time == 30
    _, s = decide(cfg, s, obs(5.0, 7.0, ready=29, now=62))
    assert s.in_panic  # would have ended at 61 without the extension


def test_stable_value_is_used_in_panic_when_larger() -> None:
    cfg = KpaConfig(container_concurrency=10)
    r, s = decide(cfg, DeciderState(), obs(140.0, 15.0, ready=1))  # stable 20 pods, panic 3 pods
    assert s.in_panic  # 3 / 1 >= 2
    assert r.desired_pods == 20


def test_a_new_autoscaler_starts_in_panic_holding_the_current_scale() -> None:
    s = DeciderState.initial(ready_pods=4, now=10)
    assert s.in_panic and s.max_panic_pods == 4
    r, _ = decide(KpaConfig(container_concurrency=10), s, obs(0.0, 0.0, ready=4, now=12))
    assert r.desired_pods == 4
    assert not DeciderState.initial(ready_pods=1, now=0).in_panic


# --- rate limits ---------------------------------------------------------------------------------


def test_max_scale_up_rate_bounds_growth_per_tick() -> None:
    cfg = KpaConfig(container_concurrency=1, target_utilization_percentage=100, max_scale_up_rate=2)
    r, _ = decide(cfg, DeciderState(), obs(100.0, 100.0, ready=3))
    assert r.desired_pods == 6
    cfg = KpaConfig(container_concurrency=1, target_utilization_percentage=100, max_scale_up_rate=1.1)
    r, _ = decide(cfg, DeciderState(), obs(100.0, 100.0, ready=3))
    assert r.desired_pods == 4  # ceil(1.1 * 3): always at least one more pod


def test_default_max_scale_up_rate_is_1000x() -> None:
    cfg = KpaConfig(container_concurrency=1, target_utilization_percentage=100)
    r, _ = decide(cfg, DeciderState(), obs(5000.0, 5000.0, ready=2))
    assert r.desired_pods == 2000


def test_max_scale_down_rate_halves_per_tick() -> None:
    cfg = KpaConfig(container_concurrency=10)
    r, _ = decide(cfg, DeciderState(), obs(0.0, 0.0, ready=10))
    assert r.desired_pods == 5
    r, _ = decide(cfg, DeciderState(), obs(0.0, 0.0, ready=3))
    assert r.desired_pods == 1
    r, _ = decide(cfg, DeciderState(), obs(0.0, 0.0, ready=10, reachable=False))
    assert r.desired_pods == 0  # an unreachable revision is not rate limited down


def test_zero_ready_pods_count_as_one_for_rates_and_panic() -> None:
    cfg = KpaConfig(container_concurrency=1)  # target 0.7
    r, s = decide(cfg, DeciderState(), obs(1.0, 1.0, ready=0))  # one request buffered at the activator
    assert r.desired_pods == 2  # ceil(1 / 0.7)
    assert s.in_panic  # 2 / max(1, 0) >= 2


# --- activation scale and scale-down delay ------------------------------------------------------


def test_activation_scale_lifts_any_nonzero_demand() -> None:
    cfg = KpaConfig(container_concurrency=10, activation_scale=3)
    r, _ = decide(cfg, DeciderState(), obs(0.5, 0.5, ready=0))
    assert r.desired_pods == 3
    r, _ = decide(cfg, DeciderState(), obs(0.0, 0.0, ready=0))
    assert r.desired_pods == 0
    r, _ = decide(cfg, DeciderState(), obs(40.0, 40.0, ready=5))
    assert r.desired_pods == 6  # above the activation scale it has no effect


def test_scale_down_delay_holds_the_maximum_for_the_delay() -> None:
    cfg = KpaConfig(container_concurrency=10, scale_down_delay_s=60)  # 30 buckets of 2 s
    _, s = decide(cfg, DeciderState(), obs(70.0, 7.0, ready=10, now=0))  # stable 10 pods
    assert s.delay[0] == (0, 10)
    r = None
    for t in range(2, 60, 2):
        r, s = decide(cfg, s, obs(14.0, 14.0, ready=10, now=t))  # wants 5 (rate limit) then 2
        assert r.desired_pods == 10, t
    r, s = decide(cfg, s, obs(14.0, 14.0, ready=10, now=60))
    assert r.desired_pods == 5  # the 10 recorded at index 0 expired at index 30; the max is now 5


def test_scale_down_delay_applies_only_while_reachable() -> None:
    """Issue 12, item 4: Knative records and applies the delay window only for a reachable revision, so an
    unreachable one (another revision took the traffic) scales down at once."""
    cfg = KpaConfig(container_concurrency=10, scale_down_delay_s=60)  # target 7
    _, s = decide(cfg, DeciderState(), obs(70.0, 7.0, ready=10, now=0))  # 10 pods, recorded in the window
    r, _ = decide(cfg, s, obs(14.0, 14.0, ready=10, now=2))
    assert r.desired_pods == 10  # reachable: the 10 of t=0 still holds
    r, s2 = decide(cfg, s, obs(14.0, 14.0, ready=10, now=2, reachable=False))
    assert r.desired_pods == 2  # unreachable: ceil(14 / 7), no rate limit down, no delay
    assert s2.delay == s.delay  # and nothing recorded


def test_scale_down_delay_never_delays_scale_up() -> None:
    cfg = KpaConfig(container_concurrency=10, scale_down_delay_s=300)
    _, s = decide(cfg, DeciderState(), obs(7.0, 7.0, ready=1, now=0))
    r, _ = decide(cfg, s, obs(70.0, 7.0, ready=1, now=2))
    assert r.desired_pods == 10


# --- excess burst capacity -----------------------------------------------------------------------


def test_excess_burst_capacity_decides_whether_the_activator_is_in_the_path() -> None:
    cfg = KpaConfig(container_concurrency=10)  # TBC 211
    r, _ = decide(cfg, DeciderState(), obs(10.0, 10.0, ready=5))
    assert r.excess_burst_capacity == 5 * 10 - 211 - 10  # -171: activator stays in the path
    r, _ = decide(cfg, DeciderState(), obs(10.0, 10.0, ready=30))
    assert r.excess_burst_capacity == 300 - 211 - 10
    r, _ = decide(KpaConfig(container_concurrency=10, target_burst_capacity=0), DeciderState(), obs(10.0, ready=5))
    assert r.excess_burst_capacity == 0
    r, _ = decide(KpaConfig(container_concurrency=10, target_burst_capacity=-1), DeciderState(), obs(10.0, ready=500))
    assert r.excess_burst_capacity == -1
    res, _ = reconcile(cfg, PaState(status="active"), 5, -171, 0.0, 5)
    assert res.activator_in_path
    res, _ = reconcile(cfg, PaState(status="active"), 5, 79, 0.0, 30)
    assert not res.activator_in_path


def test_initial_excess_burst_capacity() -> None:
    assert initial_excess_burst_capacity(1, 10.0, 211.0) == 10 - 211
    assert initial_excess_burst_capacity(1, 100.0, -1.0) == -1


def test_no_data_for_a_stable_window_gives_no_decision() -> None:
    r, s = decide(KpaConfig(), DeciderState(), Observation(now=0, stable=None, panic=0, ready_pods=1))
    assert not r.valid and s == DeciderState()


# --- metric buckets ------------------------------------------------------------------------------


def test_window_average_over_a_partial_window_after_the_first_write() -> None:
    b = TimedBuckets(60)
    for t in range(0, 10):
        b.record(t + 0.5, 6.0)
    assert b.window_average(9.0) == 6.0  # 10 buckets written, averaged over 10 not 60
    # no data for 11 s: the missing seconds are not averaged in while the window is partial
    assert b.window_average(20.0) == 6.0
    assert not b.is_empty(69.0) and b.is_empty(70.0)
    assert b.window_average(70.0) == 0.0


def test_window_average_counts_gaps_as_zero_inside_a_full_window() -> None:
    b = TimedBuckets(6)
    for t in range(0, 12):
        b.record(t, 6.0)
    b.record(13, 0.0)  # second 12 had no data
    assert b.window_average(13) == pytest.approx(4.0)  # (6+6+6+6+0+0) / 6


def test_window_average_rounds_to_six_digits_half_away_from_zero() -> None:
    """Knative's roundToNDigits(6, x) is math.Round: 2/3 -> 0.666667 (it was floored to 0.666666)."""
    b = TimedBuckets(60)
    b.record(0, 2.0)
    b.record(1, 0.0)
    b.record(2, 0.0)
    assert b.window_average(2) == 0.666667


def test_values_in_the_same_second_add_up() -> None:
    b = TimedBuckets(6)
    b.record(3.1, 1.0)
    b.record(3.9, 2.0)
    assert b.window_average(3) == 3.0


def test_an_out_of_order_write_lands_in_its_own_bucket_without_moving_the_window() -> None:
    """Issue 12, item 5: a late sample for an earlier second (inside the window) is added to that second;
    the window does not move back (it used to, and the next write then zeroed the newer seconds)."""
    b = TimedBuckets(6)
    for t in range(10, 15):
        b.record(t, 6.0)
    b.record(12.5, 6.0)  # a late scrape for second 12
    assert b.last_write == 14
    assert b.window_average(14) == pytest.approx((5 * 6 + 6) / 5)
    b.record(15, 6.0)
    assert b.window_average(15) == pytest.approx((6 * 6 + 6) / 6)
    b.record(8, 100.0)  # a whole window (or more) before the last write: ignored
    assert b.window_average(15) == pytest.approx((6 * 6 + 6) / 6)


def test_an_earlier_write_moves_the_first_write_back() -> None:
    b = TimedBuckets(60)
    b.record(100, 4.0)
    b.record(97, 2.0)  # before the first write, inside the window: the partial window now spans 97..100
    assert b.window_average(100) == pytest.approx(6.0 / 4)


def test_a_gap_of_exactly_one_window_starts_the_window_afresh() -> None:
    """Issue 12, item 5: Knative resets on a gap >= the window (it was only > the window)."""
    b = TimedBuckets(6)
    for t in range(0, 6):
        b.record(t, 1.0)
    b.record(11, 9.0)  # 11 - 5 = 6 = the window
    assert b.window_average(11) == 9.0  # one valid bucket (was 9/6)


def test_a_window_of_silence_resets_the_first_write() -> None:
    b = TimedBuckets(6)
    for t in range(0, 6):
        b.record(t, 1.0)
    b.record(20, 9.0)
    assert b.window_average(20) == 9.0  # one valid bucket, not 9/6


# --- reconciler: bounds, initial scale, scale to zero -------------------------------------------


def test_min_and_max_scale_are_applied_after_the_decision() -> None:
    cfg = KpaConfig(min_scale=2, max_scale=10)
    res, _ = reconcile(cfg, PaState(status="active", scale_target_initialized=True), 0, 0, 0.0, 2)
    assert res.scale == 2
    res, _ = reconcile(cfg, PaState(status="active", scale_target_initialized=True), 50, 0, 0.0, 2)
    assert res.scale == 10


def test_min_scale_is_ignored_when_unreachable() -> None:
    cfg = KpaConfig(min_scale=2)
    pa = PaState(status="inactive", since=-1000.0, scale_target_initialized=True, proxy_since=-1000.0)
    res, _ = reconcile(cfg, pa, 0, -1, 0.0, 2, reachable=False)
    assert res.scale == 0


def test_initial_scale_is_a_floor_until_reached() -> None:
    cfg = KpaConfig(initial_scale=3)
    res, pa = reconcile(cfg, PaState(status="activating"), 1, 0, 0.0, 0)
    assert res.scale == 3 and not pa.scale_target_initialized
    _, pa = reconcile(cfg, pa, 1, 0, 10.0, 3)
    assert pa.scale_target_initialized and pa.status == "active"
    res, _ = reconcile(cfg, pa, 1, 0, 12.0, 3)
    assert res.scale == 1


def _idle_run(cfg: KpaConfig, until: float) -> list[tuple[float, int | None, str]]:
    """One pod idle from t=0 (last request before 0); returns (t, scale applied, PA status) per tick."""
    k = Kpa.warm(cfg, ready_pods=1, now=-1000.0)
    for t in range(-100, 0):
        k.record(t, 1.0)
    out = []
    ready = 1
    t = 0.0
    while t <= until:
        k.record(t, 0.0)
        rr, _ = k.tick(t, ready)
        if rr.scale is not None:
            ready = rr.scale
        out.append((t, rr.scale, k.pa.status))
        t += 2
    return out


def test_scale_to_zero_waits_the_grace_period_after_going_inactive() -> None:
    cfg = KpaConfig(container_concurrency=10, target_burst_capacity=0)  # activator only enters at 0
    run = _idle_run(cfg, 200)
    inactive_at = next(t for t, _, st in run if st == "inactive")
    zero_at = next(t for t, sc, _ in run if sc == 0)
    # The stable average reaches 0 once the last busy second leaves the 60 s window (t = 60).
    assert inactive_at == 60
    assert zero_at == inactive_at + 30


def test_scale_to_zero_fast_path_when_activator_already_in_path() -> None:
    cfg = KpaConfig(container_concurrency=10)  # TBC 211 keeps the activator in the path all along
    run = _idle_run(cfg, 200)
    inactive_at = next(t for t, _, st in run if st == "inactive")
    zero_at = next(t for t, sc, _ in run if sc == 0)
    assert zero_at == inactive_at + 2  # the next reconcile: proxied for longer than the grace period


def test_scale_to_zero_pod_retention_keeps_the_last_pod() -> None:
    cfg = KpaConfig(container_concurrency=10, scale_to_zero_pod_retention_period_s=120)
    run = _idle_run(cfg, 300)
    inactive_at = next(t for t, _, st in run if st == "inactive")
    zero_at = next(t for t, sc, _ in run if sc == 0)
    assert zero_at == inactive_at + 120


def test_scale_to_zero_disabled_keeps_one_pod() -> None:
    run = _idle_run(KpaConfig(container_concurrency=10, enable_scale_to_zero=False), 300)
    assert all(sc != 0 for _, sc, _ in run)
    assert run[-1][1] == 1


def test_recently_activated_revision_keeps_one_pod_for_the_rest_of_the_stable_window() -> None:
    cfg = KpaConfig(container_concurrency=10)
    res, pa = reconcile(cfg, PaState(status="active", since=100.0, scale_target_initialized=True), 0, -1, 130.0, 3)
    assert res.scale == 1 and pa.status == "active"
    res, pa = reconcile(cfg, PaState(status="active", since=100.0, scale_target_initialized=True), 0, -1, 160.0, 3)
    assert res.scale is None and pa.status == "inactive" and res.activator_in_path


def test_min_scale_prevents_scale_to_zero() -> None:
    run = _idle_run(KpaConfig(container_concurrency=10, min_scale=1), 300)
    assert all(sc != 0 for _, sc, _ in run)
