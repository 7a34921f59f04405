"""Recommendation writes a valid patch; Knative YAML is read back; the CLI runs end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import plan
from planner.go_syntax import GoSyntaxError, parse_duration_ns
from planner.knative_config import kustomize_patch, load_kpa_config
from planner.kpa import KpaConfig
from planner.recommend import Slo, search
from planner.workload import parse_trace


def test_parse_duration_is_gos() -> None:
    s = 1_000_000_000
    assert parse_duration_ns("90s") == 90 * s
    assert parse_duration_ns("1m30s") == 90 * s
    assert parse_duration_ns("10m") == 600 * s
    assert parse_duration_ns("0") == 0
    for bad in ("5", "ten minutes", " 5s", ""):  # Go wants a unit (except for "0") and no spaces
        with pytest.raises(GoSyntaxError):
            parse_duration_ns(bad)


def test_config_reads_configmap_then_service_annotations(tmp_path: Path) -> None:
    p = tmp_path / "k.yaml"
    p.write_text(
        """
apiVersion: v1
kind: ConfigMap
metadata: {name: config-autoscaler, namespace: knative-serving}
data:
  stable-window: "30s"
  target-burst-capacity: "0"
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: emotivoice}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/target: "2"
        autoscaling.knative.dev/target-utilization-percentage: "80"
        autoscaling.knative.dev/min-scale: "2"
        autoscaling.knative.dev/scale-down-delay: "10m"
    spec:
      containerConcurrency: 4
"""
    )
    cfg = load_kpa_config(p)
    assert cfg.stable_window_s == 30 and cfg.target_burst_capacity == 0
    assert cfg.container_concurrency == 4 and cfg.min_scale == 2 and cfg.scale_down_delay_s == 600
    assert cfg.target_value == pytest.approx(1.6)  # min(target 2, cc 4) x 80 %


def test_patch_round_trips_and_targets_the_emotivoice_service(tmp_path: Path) -> None:
    cfg = KpaConfig(container_concurrency=3, min_scale=2, max_scale=12, scale_down_delay_s=120, target_utilization_percentage=50)
    text = kustomize_patch(cfg, comment="why: test")
    doc = yaml.safe_load(text)
    assert doc["apiVersion"] == "serving.knative.dev/v1" and doc["kind"] == "Service"
    assert doc["metadata"]["name"] == "emotivoice"
    anns = doc["spec"]["template"]["metadata"]["annotations"]
    # Kubernetes annotations must be strings; null deletes one (no activation scale was assumed)
    assert all(isinstance(v, str) for k, v in anns.items() if k != "autoscaling.knative.dev/activation-scale")
    assert anns["autoscaling.knative.dev/activation-scale"] is None
    assert anns["autoscaling.knative.dev/min-scale"] == "2"
    assert anns["autoscaling.knative.dev/scale-down-delay"] == "120s"
    assert doc["spec"]["template"]["spec"]["containerConcurrency"] == 3
    p = tmp_path / "patch.yaml"
    p.write_text(text)
    # read back identical, except that a new revision starts at the min-scale floor (initial-scale = 2)
    # and the target is written explicitly (3 = containerConcurrency), so a base Service's target cannot override it
    assert anns["autoscaling.knative.dev/target"] == "3"
    back = load_kpa_config(p)
    assert back == cfg.model_copy(update={"initial_scale": 2, "target": 3.0})
    assert back.target_value == cfg.target_value


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_patch_applies_with_kustomize(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "service.yaml").write_text(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: emotivoice\nspec:\n  template:\n"
        "    metadata:\n      annotations:\n        autoscaling.knative.dev/min-scale: '0'\n"
        "    spec:\n      containerConcurrency: 1\n      containers:\n      - image: example/emotivoice\n"
    )
    (base / "kustomization.yaml").write_text("resources:\n- service.yaml\n")
    (tmp_path / "patch.yaml").write_text(kustomize_patch(KpaConfig(container_concurrency=2, min_scale=3)))
    (tmp_path / "kustomization.yaml").write_text("resources:\n- base\npatches:\n- path: patch.yaml\n")
    out = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, check=True).stdout
    doc = yaml.safe_load(out)
    assert doc["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "3"
    assert doc["spec"]["template"]["spec"]["containerConcurrency"] == 2
    assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == "example/emotivoice"


def test_search_picks_the_cheapest_configuration_meeting_the_slo(service_model, cold_model) -> None:
    trace = parse_trace("step:1,12,60:240", seed=2)
    grid = {"container_concurrency": [1, 2], "min_scale": [0, 1, 2, 3, 4]}
    rec = search(trace, service_model, cold_model, KpaConfig(), Slo(p99_s=0.8), initial_pods=1, grid=grid)
    assert rec.best is not None and rec.best.meets
    assert rec.best.result.p99_all <= 0.8
    assert all(rec.best.cost <= c.cost for c in rec.evaluated if c.meets)
    # an impossible SLO is reported as not met, with the closest configuration
    rec2 = search(trace, service_model, cold_model, KpaConfig(), Slo(p99_s=0.01), initial_pods=1, grid={"container_concurrency": [2], "min_scale": [0, 1]})
    assert rec2.best is None and len(rec2.evaluated) == 2


def test_cli_end_to_end_on_a_tiny_trace(tmp_path: Path, bench_files: tuple[Path, Path]) -> None:
    st, cs = bench_files
    trace = tmp_path / "trace.csv"
    rows = ["timestamp,chars"] + [f"{i * 0.25:.2f},{40 + i % 50}" for i in range(480)]
    trace.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    patch = tmp_path / "patch.yaml"
    res = CliRunner().invoke(
        plan,
        ["--trace", str(trace), "--service-times", str(st), "--cold-start", str(cs), "--out-dir", str(out),
         "--patch-out", str(patch), "--quick", "--initial-pods", "1"],
    )
    assert res.exit_code == 0, res.output
    assert "Knative KPA" in res.output and "HPA cpu 70%" in res.output and "KEDA qps>10" in res.output
    for png in ("plan.png", "recommended.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"] == 480 and len(summary["runs"]) == 3
    # item 10: the recommended row names the per-pod concurrency it assumed, and the patch sets exactly that
    assert "recommended: cc=" in res.output and " workers + " in res.output
    assert summary["measurements"]["app_workers"] == 2  # the test measurements' benchmark default
    service, function_env = yaml.safe_load_all(patch.read_text())
    assert service["metadata"]["name"] == "emotivoice"
    cc = service["spec"]["template"]["spec"]["containerConcurrency"]
    env = function_env["data"]
    assert function_env["metadata"]["name"] == "emotivoice-config"
    assert int(env["EMOTIVOICE_WORKERS"]) + int(env["EMOTIVOICE_QUEUE_SIZE"]) == cc


def test_cli_explains_missing_measurements(tmp_path: Path) -> None:
    res = CliRunner().invoke(plan, ["--service-times", str(tmp_path / "nope.json"), "--cold-start", str(tmp_path / "no.json")])
    assert res.exit_code != 0
    assert "python bench/http_latency.py" in res.output


def test_cli_rejects_a_malformed_benchmark_file(tmp_path: Path, bench_files: tuple[Path, Path]) -> None:
    st, cs = bench_files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"engine": "espeak", "machine": "m", "command": "c", "measured_at": "t", "samples": [{"chars": 3}]}))
    res = CliRunner().invoke(plan, ["--service-times", str(bad), "--cold-start", str(cs)])
    assert res.exit_code != 0 and "does not match the agreed schema" in res.output


def test_cli_help_is_meaningful() -> None:
    res = CliRunner().invoke(plan, ["--help"])
    assert res.exit_code == 0
    for word in ("--trace", "--config", "--patch-out", "--slo-p99-ms", "festival", "bench/cold_start.py"):
        assert word in res.output


def test_cli_chars_sets_the_text_length_of_a_rate_trace(tmp_path: Path, bench_files: tuple[Path, Path]) -> None:
    st, cs = bench_files
    p50 = {}
    for chars in (10, 400):
        out = tmp_path / f"out{chars}"
        res = CliRunner().invoke(plan, ["--trace", "constant:1:300", "--chars", str(chars), "--service-times", str(st),
                                        "--cold-start", str(cs), "--out-dir", str(out), "--no-recommend",
                                        "--no-compare"])
        assert res.exit_code == 0, res.output
        p50[chars] = json.loads((out / "summary.json").read_text())["runs"][0]["p50_ms"]
    assert p50[400] > p50[10] * 1.5  # the service-time model's length term is applied to every request
