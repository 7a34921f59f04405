"""Fixtures for the snapshot tests: one tiny random home and one snapshot of it per session.

Same pattern as tests/emotivoice/conftest.py: upstream's data files live beside SPEC.md in the shared
directory; tests skip with a clear reason when it is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "emotivoice"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "tokenlist").is_file():
        pytest.skip(f"upstream EmotiVoice data files not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    from function.engines.emotivoice.random_home import write_home

    return write_home(tmp_path_factory.mktemp("snapshot_home"), "tiny", shared_dir, seed=3)


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
