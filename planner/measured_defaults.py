"""The measurements shipped inside the planner package, and how ``bench/`` refreshes them.

Why shipped: an installed ``emotivoice-fn plan`` must work from any directory, so its default service
times and cold starts cannot be paths relative to a checkout. ``planner/data/`` holds copies of the
benchmark outputs (package data in ``pyproject.toml``); ``bench/`` stays the place that measures them:
after ``python bench/http_latency.py`` / ``python bench/cold_start.py`` write ``bench/results/``, run
``python -m planner.measured_defaults`` to validate those files and copy them here (a test fails while
the two differ, so a fresh measurement cannot be forgotten).

Imports: the standard library and ``measurements`` (for validation); never ``function``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
#: Shipped file name -> the benchmark output it copies (relative to a checkout's bench/results).
FILES = {
    "service_times.json": "service_times.json",
    "service_times_emotivoice.json": "service_times_emotivoice.json",
    "cold_start.json": "cold_start.json",
}
SERVICE_TIMES = {"espeak": DATA / "service_times.json", "emotivoice": DATA / "service_times_emotivoice.json"}
COLD_START = DATA / "cold_start.json"


def stale(results: Path) -> list[str]:
    """Shipped files whose benchmark output in ``results`` differs (as JSON), or is missing here."""
    out = []
    for shipped, measured in FILES.items():
        src = results / measured
        if src.exists() and (not (DATA / shipped).exists()
                             or json.loads(src.read_text()) != json.loads((DATA / shipped).read_text())):
            out.append(shipped)
    return out


def refresh(results: Path) -> list[Path]:
    """Validate each benchmark output in ``results`` and copy it into the package; returns what changed."""
    from planner.measurements import load_cold_start, load_service_times

    changed = []
    for shipped in stale(results):
        src = results / FILES[shipped]
        (load_cold_start if shipped == "cold_start.json" else load_service_times)(src)  # schema check
        shutil.copyfile(src, DATA / shipped)
        changed.append(DATA / shipped)
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description="Copy validated benchmark outputs into the planner package.")
    ap.add_argument("--from", dest="results", type=Path, default=Path("bench/results"),
                    help="directory the bench scripts wrote (default: bench/results)")
    args = ap.parse_args()
    changed = refresh(args.results)
    print("\n".join(f"updated {p}" for p in changed) or "planner/data is up to date")


if __name__ == "__main__":
    main()
