"""Issue 12, items 6 and 7: every config-autoscaler key and every autoscaling annotation the planner reads is
parsed, defaulted and validated as Knative does, and reaches the simulated ``KpaConfig`` as Knative merges it.

One case per key: a valid value and what it becomes, and a rejected value with Knative's error text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.knative_autoscaler_config import CONFIGMAP_KEYS, KnativeConfigError, parse_config_autoscaler
from planner.knative_config import load_kpa_config
from planner.kpa import KpaConfig

# key -> (valid value, KpaConfig field, expected, rejected value, Knative's error (substring))
CONFIGMAP_CASES: dict[str, tuple[str, str | None, Any, str | None, str | None]] = {
    "pod-autoscaler-class": ("kpa.autoscaling.knative.dev", None, None, None, None),
    "enable-scale-to-zero": ("false", "enable_scale_to_zero", False, "nope",
                             'failed to parse "enable-scale-to-zero": strconv.ParseBool: parsing "nope": invalid syntax'),
    "allow-zero-initial-scale": ("true", "allow_zero_initial_scale", True, "yes",
                                 'strconv.ParseBool: parsing "yes": invalid syntax'),
    "max-scale-up-rate": ("2.5", "max_scale_up_rate", 2.5, "1", "max-scale-up-rate = 1, must be greater than 1.0"),
    "max-scale-down-rate": ("3", "max_scale_down_rate", 3.0, "0.5",
                            "max-scale-down-rate = 0.5, must be greater than 1.0"),
    "container-concurrency-target-percentage": (
        "80", "container_concurrency_target_fraction", 0.8, "0",
        "container-concurrency-target-percentage = 0.000000 is outside of valid range of (0, 100]"),
    "container-concurrency-target-default": ("50", "container_concurrency_target_default", 50.0, "1e-5",
                                             "yield target concurrency of 7e-06, can't be less than 0.01"),
    "requests-per-second-target-default": ("100", "rps_target_default", 100.0, "0.001",
                                           "requests-per-second-target-default must be at least 0.01, was: 0.001"),
    "target-burst-capacity": ("-1", "target_burst_capacity", -1.0, "-2",
                              "target-burst-capacity must be either non-negative or -1 (for unlimited), was: -2.000000"),
    "panic-window-percentage": ("20", "panic_window_percentage", 20.0, "0.5",
                                "panic-window-percentage = 0.5, must be in [1, 100] interval"),
    "activator-capacity": ("50", None, None, "0.5", "activator-capacity = 0.5, must be at least 1"),
    "panic-threshold-percentage": ("150", "panic_threshold_percentage", 150.0, "x",
                                   'strconv.ParseFloat: parsing "x": invalid syntax'),
    "initial-scale": ("3", "initial_scale", 3, "0",
                      "initial-scale = 0, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)"),
    "min-scale": ("2", "min_scale", 2, "-1", "min-scale = -1, must be at least 0"),
    "max-scale": ("5", "max_scale", 5, "-1", "max-scale = -1, must be in [0, max-scale-limit(0)] range"),
    "max-scale-limit": ("0", None, None, "-1", "max-scale-limit = -1, must be at least 0"),
    "stable-window": ("2m", "stable_window_s", 120, "60", 'time: missing unit in duration "60"'),
    "scale-down-delay": ("10m", "scale_down_delay_s", 600, "1.5s",
                         "scale-down-delay = 1.5s, must be specified with at most second precision"),
    "scale-to-zero-grace-period": ("45s", "scale_to_zero_grace_period_s", 45.0, "0s",
                                   "scale-to-zero-grace-period must be positive, was: 0s"),
    "scale-to-zero-pod-retention-period": ("1m30s", "scale_to_zero_pod_retention_period_s", 90.0, "-1s",
                                           "scale-to-zero-pod-retention-period cannot be negative, was: -1s"),
}


def test_every_configmap_key_has_a_case() -> None:
    assert set(CONFIGMAP_CASES) == set(CONFIGMAP_KEYS)


def _load(tmp_path: Path, *docs: dict) -> KpaConfig:
    p = tmp_path / "k.yaml"
    p.write_text(yaml.safe_dump_all(list(docs)))
    return load_kpa_config(p)


def _configmap(data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config-autoscaler"}, "data": data}


@pytest.mark.parametrize("key", sorted(CONFIGMAP_CASES))
def test_configmap_key(key: str, tmp_path: Path) -> None:
    good, field, expected, bad, error = CONFIGMAP_CASES[key]
    cfg = _load(tmp_path, _configmap({key: good}))
    if field is not None:
        assert getattr(cfg, field) == expected
    if bad is not None:
        with pytest.raises(KnativeConfigError) as info:
            parse_config_autoscaler({key: bad})
        assert error in str(info.value)
        with pytest.raises(ValueError, match="config-autoscaler"):
            _load(tmp_path, _configmap({key: bad}))


def test_legacy_fraction_rule_of_the_target_percentage() -> None:
    """A value in (0, 1] is already a fraction; above 1 it is a percentage (so 1 means 100 %, 1.5 means 1.5 %)."""
    frac = lambda v: parse_config_autoscaler({"container-concurrency-target-percentage": v})  # noqa: E731
    assert frac("0.7").container_concurrency_target_fraction == 0.7
    assert frac("1").container_concurrency_target_fraction == 1.0
    assert frac("1.5").container_concurrency_target_fraction == 0.015
    assert frac("70").container_concurrency_target_fraction == 0.7


# annotation (after autoscaling.knative.dev/) -> (valid value, KpaConfig field, expected, rejected, error)
ANNOTATION_CASES: dict[str, tuple[str, str, Any, str, str]] = {
    "metric": ("rps", "metric", "rps", "cpu", "invalid value: cpu: autoscaling.knative.dev/metric"),
    "target": ("3", "target", 3.0, "0", "target 0 should be at least 0.01"),
    "target-utilization-percentage": ("50", "target_utilization_percentage", 50.0, "0", "expected 1 <= 0 <= 100"),
    "window": ("30s", "stable_window_s", 30, "5s", "expected 6s <= 5s <= 1h0m0s"),
    "panic-window-percentage": ("20", "panic_window_percentage", 20.0, "0.5", "expected 1 <= 0.5 <= 100"),
    "panic-threshold-percentage": ("300", "panic_threshold_percentage", 300.0, "100", "expected 110 <= 100 <= 1000"),
    "target-burst-capacity": ("-1", "target_burst_capacity", -1.0, "-2", "invalid value: -2"),
    "min-scale": ("2", "min_scale", 2, "-1", "expected 0 <= -1 <= 2147483647"),
    "max-scale": ("5", "max_scale", 5, "x", "invalid value: x"),
    "initial-scale": ("3", "initial_scale", 3, "0", "=0 not allowed by cluster"),
    "activation-scale": ("3", "activation_scale", 3, "1", "activation-scale=1 must be greater than 1"),
    "scale-down-delay": ("2m", "scale_down_delay_s", 120, "1.5s", "must be specified with at most second precision"),
    "scale-to-zero-pod-retention-period": ("90s", "scale_to_zero_pod_retention_period_s", 90.0, "2h",
                                           "expected 0s <= 2h <= 1h0m0s"),
}


def _service(annotations: dict[str, str], cc: int | None = 10) -> dict:
    spec = {} if cc is None else {"containerConcurrency": cc}
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "emotivoice"},
            "spec": {"template": {"metadata": {"annotations": {f"autoscaling.knative.dev/{k}": v
                                                               for k, v in annotations.items()}},
                                  "spec": spec}}}


@pytest.mark.parametrize("key", sorted(ANNOTATION_CASES))
def test_annotation(key: str, tmp_path: Path) -> None:
    good, field, expected, bad, error = ANNOTATION_CASES[key]
    assert getattr(_load(tmp_path, _service({key: good})), field) == expected
    with pytest.raises(ValueError, match="Knative would reject") as info:
        _load(tmp_path, _service({key: bad}))
    assert error in str(info.value)


def test_annotations_override_the_configmap_whatever_the_document_order(tmp_path: Path) -> None:
    cm = _configmap({"stable-window": "30s", "min-scale": "1", "scale-down-delay": "1m"})
    svc = _service({"window": "90s", "min-scale": "4"})
    for docs in ((cm, svc), (svc, cm)):
        cfg = _load(tmp_path, *docs)
        assert (cfg.stable_window_s, cfg.min_scale, cfg.scale_down_delay_s) == (90, 4, 60)


def test_legacy_annotation_spellings_are_read_by_key_priority(tmp_path: Path) -> None:
    cfg = _load(tmp_path, _service({"minScale": "2", "maxScale": "9", "min-scale": "3"}))
    assert (cfg.min_scale, cfg.max_scale) == (3, 9)  # min-scale wins over minScale


def test_what_the_planner_does_not_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KPA only"):
        _load(tmp_path, _service({"class": "hpa.autoscaling.knative.dev", "metric": "cpu"}))
    with pytest.raises(ValueError, match="not modeled"):
        _load(tmp_path, _service({"metric-aggregation-algorithm": "weighted-exponential",
                                  "class": "kpa.autoscaling.knative.dev"}))


# --- item 6: the per-pod target, rule by rule -------------------------------------------------------------


def test_concurrency_utilisation_comes_from_the_configmap_percentage(tmp_path: Path) -> None:
    cfg = _load(tmp_path, _configmap({"container-concurrency-target-percentage": "50"}), _service({}, cc=10))
    assert cfg.target_value == 5.0  # 10 x 50 %


def test_rps_utilisation_is_a_fixed_70_percent_the_configmap_does_not_change(tmp_path: Path) -> None:
    cfg = _load(tmp_path, _configmap({"container-concurrency-target-percentage": "50"}),
                _service({"metric": "rps"}, cc=10))
    assert cfg.total_value == 200.0 and cfg.target_value == pytest.approx(140.0)  # 200 x 0.7, not x 0.5


def test_the_utilisation_annotation_overrides_either_metric(tmp_path: Path) -> None:
    cm = _configmap({"container-concurrency-target-percentage": "50"})
    assert _load(tmp_path, cm, _service({"target-utilization-percentage": "80"}, cc=10)).target_value == 8.0
    rps = _load(tmp_path, cm, _service({"metric": "rps", "target-utilization-percentage": "80"}, cc=10))
    assert rps.target_value == pytest.approx(160.0)


def test_a_concurrency_target_annotation_is_capped_by_container_concurrency(tmp_path: Path) -> None:
    assert _load(tmp_path, _service({"target": "20"}, cc=4)).total_value == 4.0
    assert _load(tmp_path, _service({"target": "20"}, cc=0)).total_value == 20.0  # no cap when unlimited
    assert _load(tmp_path, _service({"metric": "rps", "target": "20"}, cc=4)).total_value == 20.0  # not for RPS


def test_the_target_is_at_least_0_01() -> None:
    assert KpaConfig(target=0.01, target_utilization_percentage=1).target_value == 0.01
