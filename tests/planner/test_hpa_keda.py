"""HPA replica calculator and behaviour, KEDA's AverageValue external metric, polling and cooldown."""

from __future__ import annotations

from planner.hpa import BehaviorState, HpaConfig, average_value_replicas, cpu_replicas, normalize
from planner.keda import KedaConfig, KedaController
from planner.simulation import SecondStats


def test_cpu_replicas_is_ceil_of_ready_times_ratio() -> None:
    assert cpu_replicas(ready=2, unready=0, utilization=140, target=70, current=2) == 4
    assert cpu_replicas(ready=3, unready=0, utilization=50, target=70, current=3) == 3  # ceil(2.14)
    assert cpu_replicas(ready=4, unready=0, utilization=20, target=70, current=4) == 2  # ceil(1.14)


def test_cpu_replicas_tolerance_of_ten_percent() -> None:
    assert cpu_replicas(ready=5, unready=0, utilization=76, target=70, current=5) == 5  # ratio 1.086
    assert cpu_replicas(ready=5, unready=0, utilization=78, target=70, current=5) == 6  # ratio 1.114


def test_unready_pods_count_as_idle_when_scaling_up() -> None:
    # 2 ready at 140 %: alone they ask for 4; with 2 starting pods at 0 % the ratio is exactly 1 -> hold.
    assert cpu_replicas(ready=2, unready=2, utilization=140, target=70, current=4) == 4
    assert cpu_replicas(ready=2, unready=1, utilization=210, target=70, current=3) == 6  # 420/(70*3)=2 -> 6


def test_average_value_external_metric() -> None:
    assert average_value_replicas(35.0, 10.0, current=2) == 4
    assert average_value_replicas(10.5, 10.0, current=1) == 1  # within tolerance
    assert average_value_replicas(0.0, 10.0, current=3) == 0  # the caller's min replicas then applies


def test_default_scale_up_policy_is_max_of_double_or_plus_four_per_15s() -> None:
    cfg = HpaConfig(max_replicas=50)
    st = BehaviorState()
    assert normalize(cfg, st, 0.0, 1, 30) == 5  # max(1*2, 1+4)
    assert normalize(cfg, st, 15.0, 5, 30) == 10  # previous event out of the 15 s period: max(10, 9)
    assert normalize(cfg, st, 30.0, 10, 30) == 20
    assert normalize(cfg, st, 35.0, 20, 30) == 20  # +10 already in this period from 10: start 10 -> max(20, 14)


def test_scale_down_waits_for_the_300s_stabilization_window() -> None:
    cfg = HpaConfig()
    st = BehaviorState()
    assert normalize(cfg, st, 0.0, 8, 8) == 8
    for t in range(15, 300, 15):
        assert normalize(cfg, st, float(t), 8, 2) == 8, t
    assert normalize(cfg, st, 300.0, 8, 2) == 2  # the 8 recorded at t=0 has left the window
    assert normalize(cfg, BehaviorState(), 0.0, 8, 0) == 1  # min replicas


def test_max_replicas_caps_scale_up() -> None:
    assert normalize(HpaConfig(max_replicas=3), BehaviorState(), 0.0, 2, 9) == 3


def _sec(t: float, completions: int, ready: int) -> SecondStats:
    return SecondStats(t=t, arrivals=completions, completions=completions, concurrency=0.0, cpu_seconds=0.0, ready=ready, starting=0, activator_queue=0)


def test_keda_scales_on_the_2m_rate_every_hpa_sync() -> None:
    k = KedaController(KedaConfig(), initial_pods=1)
    out = []
    for t in range(1, 301):
        out.append(k.second(_sec(float(t), 35, k.desired)))
    # The 2 min rate ramps up as the window fills; at 300 s it is 35/s -> ceil(35/10) = 4 pods.
    assert k.metric == 35.0
    assert k.desired == 4
    assert all(o is None for t, o in enumerate(out, start=1) if t % 15)


def test_keda_cools_down_to_min_replicas_after_inactivity() -> None:
    k = KedaController(KedaConfig(cooldown_period_s=300), initial_pods=2)
    k.last_active = 0.0
    k.desired = 2
    res = [k.second(_sec(float(t), 0, k.desired)) for t in range(1, 331)]
    assert 0 in res
    first_zero = res.index(0) + 1
    assert first_zero == 300  # polled every 30 s; inactive since 0, cooldown 300 s
