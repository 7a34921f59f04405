"""Planner test inputs built here (the benchmark files may not exist): a small measured-like model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from planner.measurements import ColdStartFile, ColdStartModel, ServiceTimeModel, ServiceTimesFile


def service_times_doc(seed: int = 0) -> dict:
    """Latency ~ 0.05 s + 2 ms/char at concurrency 1-2; 2 cores, so concurrency 4 takes twice as long."""
    rng = np.random.default_rng(seed)
    samples = []
    for c in (1, 2, 4):
        for chars in (20, 60, 120):
            for _ in range(6):
                secs = (0.05 + 0.002 * chars) * (1.0 if c <= 2 else c / 2) * rng.uniform(0.9, 1.1)
                samples.append({"chars": chars, "concurrency": c, "seconds": round(float(secs), 5)})
    return {"engine": "espeak", "machine": "test", "command": "test", "measured_at": "2026-01-01T00:00:00Z", "samples": samples}


def cold_start_doc() -> dict:
    return {
        "machine": "test",
        "command": "test",
        "measured_at": "2026-01-01T00:00:00Z",
        "variants": {"eager": {"samples_s": [12.0, 13.0, 14.0]}, "snapshot": {"samples_s": [3.0, 3.5, 4.0]}, "espeak": {"samples_s": [0.5, 0.6]}},
    }


@pytest.fixture
def service_model() -> ServiceTimeModel:
    return ServiceTimeModel(ServiceTimesFile.model_validate(service_times_doc()))


@pytest.fixture
def cold_model() -> ColdStartModel:
    return ColdStartModel(ColdStartFile.model_validate(cold_start_doc()), "snapshot", overhead_s=2.0)


@pytest.fixture
def bench_files(tmp_path: Path) -> tuple[Path, Path]:
    st = tmp_path / "service_times.json"
    cs = tmp_path / "cold_start.json"
    st.write_text(json.dumps(service_times_doc()))
    cs.write_text(json.dumps(cold_start_doc()))
    return st, cs
