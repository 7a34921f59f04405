"""Issue 12, items 9 and 10: every patch the planner writes is one Knative admits, and it carries everything
the simulated row depended on (containerConcurrency and the function's own workers + queue bound).

The rendering test drops the patch into a copy of ``knative/`` as an overlay's ``planner-patch.yaml``,
renders it with kustomize (kubectl) and checks the result the way ``tests/knative`` checks the committed
overlays: strict Knative CRD schemas (``../shared/knative-crds``), kubernetes-validate for the ConfigMap,
the project's autoscaling rules, and Knative's own webhook rules (``planner.knative_annotations``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from planner.knative_annotations import annotation_errors
from planner.knative_config import kustomize_patch, load_kpa_config, patch_annotations, patch_errors
from planner.kpa import KpaConfig
from tests.knative import kube, rules

A = "autoscaling.knative.dev/"


def test_activation_scale_is_written_only_from_2() -> None:
    """Knative's webhook rejects activation-scale below 2; a plan without one deletes it (null)."""
    assert patch_annotations(KpaConfig())[A + "activation-scale"] is None
    assert patch_annotations(KpaConfig(activation_scale=3, min_scale=1))[A + "activation-scale"] == "3"
    for cfg in (KpaConfig(), KpaConfig(container_concurrency=1), KpaConfig(activation_scale=2, max_scale=4)):
        assert patch_errors(cfg) == []
        written = [v for v in yaml.safe_load_all(kustomize_patch(cfg))][0]
        anns = {k: v for k, v in written["spec"]["template"]["metadata"]["annotations"].items() if v is not None}
        assert annotation_errors(anns) == []
        assert rules.autoscaling_errors(anns, cfg.container_concurrency or 100) == []


@pytest.mark.parametrize("cfg,needle", [
    # a ConfigMap utilisation of 0.5 % cannot be written as the annotation (1..100)
    (KpaConfig(container_concurrency_target_fraction=0.005), "target-utilization-percentage"),
    # a ConfigMap panic threshold Knative accepts (it checks none) but the annotation range (110..1000) does not
    (KpaConfig(panic_threshold_percentage=105), "panic-threshold-percentage"),
])
def test_a_patch_knative_would_reject_is_refused(cfg: KpaConfig, needle: str) -> None:
    with pytest.raises(ValueError, match="Knative would reject") as info:
        kustomize_patch(cfg)
    assert needle in str(info.value)


def test_a_plan_with_a_floor_above_the_activation_scale_raises_it(service_model, cold_model) -> None:
    """min-scale > activation-scale is rejected by Knative; with the floor above it the activation scale
    changes nothing (a reachable revision never goes below the floor), so the search lifts it to the floor
    instead of skipping every floor above 2 of a Service that sets activation-scale 2."""
    from planner.recommend import Slo, search
    from planner.workload import parse_trace

    with pytest.raises(ValueError):
        KpaConfig(activation_scale=2, min_scale=3)
    base = KpaConfig(container_concurrency=2, activation_scale=2)
    rec = search(parse_trace("constant:1:60", seed=1), service_model, cold_model, base, Slo(p99_s=1e-9),
                 initial_pods=1, grid={"container_concurrency": [2], "min_scale": [1, 3]})
    assert [(c.cfg.min_scale, c.cfg.activation_scale) for c in rec.evaluated] == [(1, 2), (3, 3)]
    assert all(patch_errors(c.cfg) == [] for c in rec.evaluated)


def _need_render() -> None:
    if kube.kubectl() is None:
        pytest.skip("no kubectl to render kustomizations")
    if not kube.CRDS.is_dir():
        pytest.skip(f"{kube.CRDS} not found")


def _render_with(patch: str, overlay: str, tmp_path: Path) -> list[dict]:
    tree = tmp_path / "knative"
    shutil.copytree(kube.KNATIVE, tree)
    (tree / "overlays" / overlay / "planner-patch.yaml").write_text(patch)
    return kube.render(tree / "overlays" / overlay)


def _configs(overlay: str, tmp_path: Path) -> dict[str, tuple[KpaConfig, int]]:
    """The deployed settings read back, Knative's defaults, and a recommended-like row, with workers."""
    deployed = tmp_path / "deployed.yaml"
    deployed.write_text(yaml.safe_dump(kube.ksvc(kube.render_overlay(overlay))))
    return {
        "deployed": (load_kpa_config(deployed), 2),
        "knative defaults, cc=1": (KpaConfig(container_concurrency=1), 1),
        "cc=4, floor 3 over activation 3, delay": (
            KpaConfig(container_concurrency=4, min_scale=3, activation_scale=3, max_scale=20,
                      target_utilization_percentage=50, scale_down_delay_s=120), 2),
    }


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_every_patch_renders_an_overlay_knative_admits(overlay: str, tmp_path: Path) -> None:
    _need_render()
    for label, (cfg, workers) in _configs(overlay, tmp_path).items():
        objs = _render_with(kustomize_patch(cfg, comment=label, workers=workers), overlay, tmp_path / label)
        svc = kube.ksvc(objs)
        spec = svc["spec"]["template"]["spec"]
        anns = svc["spec"]["template"]["metadata"]["annotations"]
        assert kube.crd_errors(svc) == [], label
        assert rules.autoscaling_errors(anns, spec["containerConcurrency"]) == [], label
        assert annotation_errors(anns) == [], label
        assert rules.revision_spec_errors(spec) == [], label
        env = kube.config_data(objs, svc)
        configmap = kube.one(objs, "ConfigMap", next(e["configMapRef"]["name"] for e in spec["containers"][0]["envFrom"]
                                                     if "configMapRef" in e))
        assert kube.core_errors(configmap) == [], label
        # item 10: the rendered revision runs what was simulated
        assert spec["containerConcurrency"] == cfg.container_concurrency, label
        assert int(env["EMOTIVOICE_WORKERS"]) + int(env["EMOTIVOICE_QUEUE_SIZE"]) == cfg.container_concurrency, label
        assert int(env["EMOTIVOICE_WORKERS"]) == min(workers, cfg.container_concurrency), label
        back = tmp_path / label / "rendered.yaml"
        back.write_text(yaml.safe_dump(svc))
        assert load_kpa_config(back).target_value == pytest.approx(cfg.target_value), label
        expected_activation = str(cfg.activation_scale) if cfg.activation_scale else None
        assert anns.get(A + "activation-scale") == expected_activation, label
