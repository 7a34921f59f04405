"""Fixtures for the EmotiVoice engine tests.

Upstream's data files (token list, speaker list, goldens) live beside SPEC.md in the shared directory,
never in this repository; tests that need them skip with a clear reason when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "emotivoice"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "tokenlist").is_file():
        pytest.skip(f"upstream EmotiVoice data files not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def golden_rows(shared_dir: Path) -> list[tuple[str, str]]:
    rows = []
    for line in (shared_dir / "frontend_golden.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, phonemes = line.split("\t")
        rows.append((text, phonemes))
    return rows


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    from function.engines.emotivoice.random_home import write_home

    return write_home(tmp_path_factory.mktemp("emotivoice_tiny"), "tiny", shared_dir, seed=1)


@pytest.fixture(scope="session")
def tiny_engine(tiny_home: Path):
    from function.engines.emotivoice import load
    from function.settings import Settings

    engine = load(Settings(home=tiny_home))
    engine.warm_up()
    yield engine
    engine.close()
