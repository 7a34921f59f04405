"""Fixtures for the EmotiVoice engine tests.

Upstream's data files (token list, speaker list, goldens) live beside SPEC.md in the shared directory,
never in this repository; ``shared_dir`` and ``tiny_home`` (tests/conftest.py) skip with a clear reason
when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest


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
def tiny_engine(tiny_home: Path):
    from function.engines.emotivoice import load
    from function.settings import Settings

    engine = load(Settings(home=tiny_home))
    engine.warm_up()
    yield engine
    engine.close()
