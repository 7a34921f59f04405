"""How long the capacity planner takes: 1 h at 35 QPS (target < 30 s) and a 24 h diurnal trace (< 5 min).

Uses bench/results/service_times.json and cold_start.json when present, otherwise a stated stand-in
(0.2 s + 1 ms/char per request, 2 pods' worth of contention, 10 s cold start) -- the speed of the
simulator does not depend much on which. Prints wall-clock times; the machine may be shared, so repeat.

    python bench/planner_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.kpa import KnativeController, KpaConfig  # noqa: E402
from planner.measurements import (  # noqa: E402
    ColdStartFile,
    ColdStartModel,
    MeasurementError,
    ServiceTimeModel,
    ServiceTimesFile,
    load_cold_start,
    load_service_times,
)
from planner.simulation import PodModel, simulate  # noqa: E402
from planner.workload import parse_trace  # noqa: E402


def _models() -> tuple[ServiceTimeModel, ColdStartModel, str]:
    try:
        st = load_service_times()
        src = f"measured {st.engine} service times"
    except MeasurementError:
        samples = [{"chars": c, "concurrency": k, "seconds": (0.2 + 0.001 * c) * max(1.0, k / 2)} for c in (20, 80, 160) for k in (1, 2, 4)]
        st = ServiceTimesFile(engine="emotivoice", machine="stand-in", command="-", measured_at="-", samples=samples)
        src = "stand-in service times"
    try:
        cs = load_cold_start()
        variant = "snapshot" if "snapshot" in cs.variants else next(iter(cs.variants))
        src += f", measured cold start ({variant})"
    except MeasurementError:
        cs = ColdStartFile(machine="stand-in", command="-", measured_at="-", variants={"eager": {"samples_s": [10.0]}})
        variant = "eager"
        src += ", stand-in 10 s cold start"
    return ServiceTimeModel(st), ColdStartModel(cs, variant), src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    service, cold, src = _models()
    cfg = KpaConfig(container_concurrency=2)
    print(f"inputs: {src}; cores visible: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    for label, spec, limit in (("1 h at 35 QPS", "constant:35:3600", 30.0), ("24 h diurnal 2..35 QPS", "diurnal:2,35:86400", 300.0)):
        for _ in range(args.runs):
            t0 = time.perf_counter()
            trace = parse_trace(spec, seed=1)
            t1 = time.perf_counter()
            r = simulate(trace, KnativeController(cfg, 2), service, cold, PodModel(container_concurrency=2), initial_pods=2)
            t2 = time.perf_counter()
            print(
                f"{label}: {trace.n} requests, trace {t1 - t0:.2f} s + simulation {t2 - t1:.2f} s = {t2 - t0:.2f} s "
                f"(target < {limit:.0f} s) {'OK' if t2 - t0 < limit else 'TOO SLOW'}; "
                f"{trace.n / (t2 - t1):,.0f} requests/s simulated, p99 {r.p99 * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
