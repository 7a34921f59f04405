"""PNG plots: load, replicas and latency over time, one line per autoscaler.

Why three stacked panels sharing the time axis: the seed's claims are about cause and effect in time
(burst -> replicas -> latency), which is only readable when the three line up.

Imports: matplotlib (the planner extra; imported only by the ``plan`` command), ``simulation`` and
``workload``; never ``function``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from planner.simulation import SimResult  # noqa: E402
from planner.workload import Trace  # noqa: E402


def _binned_p99(r: SimResult, bin_s: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    edges = np.arange(0.0, end + bin_s, bin_s)
    if not len(r.latencies):
        return edges[:-1], np.full(len(edges) - 1, np.nan)
    idx = np.digitize(r.latency_at, edges) - 1
    out = np.full(len(edges) - 1, np.nan)
    order = np.argsort(idx, kind="stable")
    idx_s, lat_s = idx[order], r.latencies[order]
    bounds = np.searchsorted(idx_s, np.arange(len(edges)))
    for b in range(len(edges) - 1):
        seg = lat_s[bounds[b] : bounds[b + 1]]
        if len(seg):
            out[b] = np.percentile(seg, 99)
    return edges[:-1], out


def plot_run(results: Sequence[SimResult], trace: Trace, path: Path, slo_s: float | None = None, title: str = "") -> Path:
    """Write one PNG comparing ``results`` on ``trace``."""
    end = max([trace.duration_s] + [r.end_s for r in results])
    bin_s = max(10.0, round(end / 300.0))
    fig, ax = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    scale, unit = (3600.0, "h") if end > 4 * 3600 else (60.0, "min")
    edges = np.arange(0.0, end + bin_s, bin_s)
    counts, _ = np.histogram(trace.times, bins=edges)
    ax[0].step(edges[:-1] / scale, counts / bin_s, where="post", color="black", lw=1, label="arrivals")
    if trace.rate is not None:
        xs = np.linspace(0, trace.duration_s, 2000)
        ax[0].plot(xs / scale, trace.rate(xs), color="tab:gray", lw=1, ls="--", label="rate")
    ax[0].set_ylabel("requests / s")
    ax[0].legend(loc="upper right")
    for r in results:
        tl = r.timeline
        ax[1].step(tl["t"] / scale, tl["ready"], where="post", lw=1.2, label=f"{r.name} (ready)")
        x, p99 = _binned_p99(r, bin_s, end)
        (line,) = ax[2].plot(x / scale, p99 * 1000, lw=1.2, label=r.name)
        if len(r.failed_at):
            fails, _ = np.histogram(r.failed_at, bins=edges)
            nz = fails > 0
            ax[2].scatter(edges[:-1][nz] / scale, np.full(nz.sum(), 1.0), marker="x", s=12, color=line.get_color(),
                          label=f"{r.name}: 10 s bins with failures")
    ax[1].set_ylabel("ready pods")
    ax[1].legend(loc="upper right", fontsize=8)
    ax[2].set_yscale("log")
    ax[2].set_ylabel(f"p99 latency per {bin_s:g} s (ms)")
    if slo_s:
        ax[2].axhline(slo_s * 1000, color="red", ls=":", lw=1, label=f"SLO {slo_s * 1000:g} ms")
    ax[2].legend(loc="upper right", fontsize=8)
    ax[2].set_xlabel(f"time ({unit})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
