"""Fixtures for the snapshot tests: one snapshot per session of the tiny random home (``tiny_home`` and
``shared_dir`` come from tests/conftest.py and skip with a clear reason when ../shared is absent).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_snapshot(tmp_path_factory: pytest.TempPathFactory, tiny_home: Path) -> tuple[Path, dict]:
    """Built once through the real build (compile, save, parity against eager); tests copy it before
    damaging anything."""
    from snapshot.build import build_snapshot

    out = tmp_path_factory.mktemp("snapshot_out") / "snap"
    manifest = build_snapshot(tiny_home, out, show_progress=False)
    return out, manifest


@pytest.fixture
def snapshot_copy(tmp_path: Path, tiny_snapshot: tuple[Path, dict]) -> Path:
    dest = tmp_path / "snap"
    shutil.copytree(tiny_snapshot[0], dest)
    return dest
