"""Issue 12, item 12: the installed ``emotivoice-fn plan`` works from any directory on measurements shipped
in the package, and ``bench/`` stays the place that measures them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from planner import measured_defaults
from planner.measurements import load_cold_start, load_service_times

REPO = Path(__file__).resolve().parents[2]


def _cli() -> str:
    exe = shutil.which("emotivoice-fn", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("emotivoice-fn is not installed next to this interpreter")
    return exe


def test_plan_runs_from_another_directory(tmp_path: Path) -> None:
    """Run where nothing of the checkout is: the shipped measurements are found inside the package."""
    res = subprocess.run(
        [_cli(), "plan", "--trace", "constant:1:120", "--no-compare", "--no-recommend", "--out-dir", "out"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "not found" not in res.stdout + res.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    used = Path(summary["measurements"]["service_times"])
    assert used.is_absolute() and used.parent == measured_defaults.DATA
    assert summary["runs"][0]["requests"] > 0


def test_plan_takes_the_emotivoice_measurements_by_engine_name(tmp_path: Path) -> None:
    res = subprocess.run(
        [_cli(), "plan", "--engine", "emotivoice", "--trace", "constant:0.5:60", "--chars", "16", "--no-compare",
         "--no-recommend", "--out-dir", "out"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "service times: emotivoice" in res.stdout and "1 workers" in res.stdout


def test_shipped_measurements_are_valid_and_declared_as_package_data() -> None:
    for path in measured_defaults.SERVICE_TIMES.values():
        load_service_times(path)
    load_cold_start(measured_defaults.COLD_START)
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    globs = package_data["planner"]
    shipped = {p.name for p in measured_defaults.DATA.glob("*.json")}
    assert shipped == set(measured_defaults.FILES)
    assert all(any((measured_defaults.DATA.parent / p).match(str(measured_defaults.DATA.parent / g)) for g in globs)
               for p in (f"data/{name}" for name in shipped))


def test_shipped_measurements_equal_the_latest_benchmark_outputs() -> None:
    """bench/ measures, the package ships: after a new measurement run `python -m planner.measured_defaults`."""
    results = REPO / "bench" / "results"
    if not results.is_dir():
        pytest.skip("no bench/results in this checkout")
    assert measured_defaults.stale(results) == [], "run: python -m planner.measured_defaults"


def test_refresh_copies_validated_outputs_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in measured_defaults.FILES:
        shutil.copyfile(measured_defaults.DATA / name, data / name)
    monkeypatch.setattr(measured_defaults, "DATA", data)
    results = tmp_path / "results"
    results.mkdir()
    fresh = json.loads((data / "cold_start.json").read_text())
    fresh["measured_at"] = "2027-01-01T00:00:00Z"
    (results / "cold_start.json").write_text(json.dumps(fresh))
    assert measured_defaults.stale(results) == ["cold_start.json"]
    assert measured_defaults.refresh(results) == [data / "cold_start.json"]
    assert json.loads((data / "cold_start.json").read_text())["measured_at"] == "2027-01-01T00:00:00Z"
    (results / "service_times.json").write_text(json.dumps({"engine": "espeak"}))  # malformed: refused
    with pytest.raises(Exception, match="schema"):
        measured_defaults.refresh(results)
