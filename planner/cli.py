"""``emotivoice-fn plan``: simulate Knative KPA (and the seed's HPA / KEDA) on a trace, recommend settings.

Why measurements and never invented numbers: a capacity plan on invented service times would repeat the
seed article's mistake. By default it uses the measurements shipped inside the package
(``measured_defaults``: copies of ``python bench/http_latency.py`` and ``python bench/cold_start.py``
output), so an installed tool works from any directory; ``--service-times`` / ``--cold-start`` take fresh
files, and a missing or malformed one is refused with the command that produces it.

Imports: click, tqdm, numpy and the planner's modules (matplotlib and PyYAML lazily, inside the
command); never ``function``. ``function/cli.py`` mounts ``plan`` as ``emotivoice-fn plan``.
"""

from __future__ import annotations

import dataclasses

import json
import math
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from planner.hpa import HpaConfig, HpaController
from planner.keda import KedaConfig, KedaController
from planner.kpa import KnativeController, KpaConfig
from planner.measured_defaults import SERVICE_TIMES
from planner.measurements import (
    DEFAULT_COLD_START,
    ColdStartModel,
    MeasurementError,
    ServiceTimeModel,
    load_cold_start,
    load_service_times,
)
from planner.recommend import Slo, default_grid, describe, grid_size, search
from planner.simulation import PodModel, SimResult, simulate
from planner.workload import Trace, parse_trace

_COLUMNS = [
    ("autoscaler", "autoscaler", 26),
    ("p50 ms", "p50_ms", 9),
    ("p95 ms", "p95_ms", 9),
    ("p99 ms", "p99_ms", 10),
    ("rejected", "rejected", 9),
    ("timed out", "timed_out", 10),
    ("pod-hours", "pod_hours", 10),
    ("pod starts", "pod_starts", 11),
    ("max ready", "max_ready", 10),
]


def format_table(rows: list[dict]) -> str:
    # The first column fits the longest row name: a recommended row's name states its per-pod concurrency.
    first = max([_COLUMNS[0][2], *(len(str(r.get("autoscaler", ""))) + 2 for r in rows)])
    columns = [(_COLUMNS[0][0], _COLUMNS[0][1], first), *_COLUMNS[1:]]
    head = "".join(f"{name:>{w}}" if i else f"{name:<{w}}" for i, (name, _, w) in enumerate(columns))
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for i, (_, key, w) in enumerate(columns):
            v = r.get(key, "")
            s = f"{v:.2f}" if isinstance(v, float) and key == "pod_hours" else str(v)
            cells.append(f"{s:>{w}}" if i else f"{s[:w - 1]:<{w}}")
        lines.append("".join(cells))
    return "\n".join(lines)


def _row(r: SimResult) -> dict:
    s = r.summary()
    s["pod_hours"] = r.pod_seconds / 3600.0
    return s


def burst_report(r: SimResult, trace: Trace, target_ready: int = 8) -> dict[str, float | None]:
    """The seed's festival claims for one run: time to ``target_ready`` pods, p99 and failures in the burst."""
    marks = dict(trace.marks)
    if "burst_start" not in marks:
        return {}
    t0, t1 = marks["burst_start"], marks["burst_end"]
    tl = r.timeline
    after = (tl["t"] > t0) & (tl["ready"] >= target_ready)
    reach = float(tl["t"][after][0] - t0) if after.any() else None
    m = (r.latency_at >= t0) & (r.latency_at < t1)
    f = (r.failed_at >= t0) & (r.failed_at < t1) if len(r.failed_at) else np.zeros(0, bool)
    in_burst = (tl["t"] > t0) & (tl["t"] <= t1)
    return {
        f"seconds_to_{target_ready}_ready": reach,
        "burst_p99_ms": round(float(np.percentile(r.latencies[m], 99)) * 1000, 1) if m.any() else None,
        "burst_failures": int(f.sum()),
        "burst_max_ready": int(tl["ready"][in_burst].max()) if in_burst.any() else None,
    }


def _pick_variant(engine: str, variants: list[str], asked: str | None) -> str:
    if asked:
        return asked
    if engine == "espeak" and "espeak" in variants:
        return "espeak"
    for v in ("snapshot", "eager", "espeak"):
        if v in variants:
            return v
    return variants[0]


@click.command(name="plan")
@click.option("--trace", "trace_spec", default="festival", show_default=True,
              help="CSV of request timestamps (column 'timestamp', optional 'chars'), or constant:QPS[:S], "
                   "step:A,B,AT[:S], ramp:A,B,T0,T1[:S], diurnal:TROUGH,PEAK[,HOUR][:S], "
                   "festival[:BASE,BURST,WARMUP,BURST_S,COOLDOWN] (the seed's 2 -> 35 QPS burst).")
@click.option("--duration", type=float, default=None, help="Seconds of a rate trace (default depends on the trace).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for arrivals and service times.")
@click.option("--chars", type=click.IntRange(1, 4096), default=None,
              help="Text length of every request of a rate trace (e.g. 16 for short greetings). Default: "
                   "lengths drawn from the latency benchmark's samples; a CSV trace's chars column wins.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Knative settings to simulate: a config-autoscaler ConfigMap and/or the Knative Service YAML, "
                   "or a flat YAML of planner field names. Default: Knative defaults with --container-concurrency.")
@click.option("--container-concurrency", type=int, default=None,
              help="containerConcurrency when --config does not set it (default: the app's workers).")
@click.option("--engine", "engine", type=click.Choice(sorted(SERVICE_TIMES)), default="espeak", show_default=True,
              help="Whose shipped service-time measurements to use when --service-times is not given.")
@click.option("--service-times", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Latency benchmark output (python bench/http_latency.py). Default: the measurement shipped "
                   "with the planner for --engine.")
@click.option("--cold-start", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Cold-start benchmark output (python bench/cold_start.py). Default: the measurement shipped "
                   "with the planner.")
@click.option("--variant", type=click.Choice(["eager", "snapshot", "espeak"]), default=None,
              help="Which cold-start variant new pods follow (default: espeak for the espeak engine, else snapshot).")
@click.option("--startup-overhead", type=float, default=2.0, show_default=True,
              help="Seconds added to each measured cold start for scheduling, container creation and readiness.")
@click.option("--initial-pods", type=int, default=2, show_default=True, help="Ready pods at t=0 (the seed's 2).")
@click.option("--app-workers", type=click.IntRange(1), default=None,
              help="Synthesis threads per pod (EMOTIVOICE_WORKERS). Default: the workers the service times were "
                   "measured with (the contention model holds for those); the patch sets it.")
@click.option("--timeout", "timeout_s", type=float, default=300.0, show_default=True,
              help="Request timeout in seconds (Knative's revision timeout).")
@click.option("--compare/--no-compare", default=True, show_default=True,
              help="Also simulate the seed's HPA (CPU 70 %, 1-10) and KEDA (QPS threshold 10).")
@click.option("--recommend/--no-recommend", default=True, show_default=True,
              help="Search the cheapest Knative settings meeting the SLO.")
@click.option("--slo-p99-ms", type=float, default=800.0, show_default=True, help="Latency SLO: p99 in ms.")
@click.option("--max-error-rate", type=float, default=0.001, show_default=True,
              help="Fraction of requests allowed to fail (503 / timeout) within the SLO.")
@click.option("--quick", is_flag=True, help="A smaller search grid (containerConcurrency and min-scale only).")
@click.option("--patch-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the recommended settings as a kustomize strategic-merge patch for the emotivoice Service.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("planner-out"),
              show_default=True, help="Where the PNG plots and summary.json go.")
def plan(
    trace_spec: str,
    duration: float | None,
    seed: int,
    chars: int | None,
    config_path: Path | None,
    container_concurrency: int | None,
    engine: str,
    service_times: Path | None,
    cold_start: Path | None,
    variant: str | None,
    startup_overhead: float,
    initial_pods: int,
    app_workers: int | None,
    timeout_s: float,
    compare: bool,
    recommend: bool,
    slo_p99_ms: float,
    max_error_rate: float,
    quick: bool,
    patch_out: Path | None,
    out_dir: Path,
) -> None:
    """Simulate Knative's autoscaler on a trace with this service's measured latency and cold starts.

    Prints a comparison table (Knative KPA, and the seed article's HPA and KEDA setups), writes PNG plots
    of load, replicas and latency over time, and recommends the cheapest Knative settings that meet the
    latency SLO (optionally as a kustomize patch).
    """
    # matplotlib and PyYAML are the planner extra's (pip install '.[planner]'): imported only when planning.
    from planner.knative_config import kustomize_patch, load_kpa_config
    from planner.plots import plot_run

    service_times = service_times or SERVICE_TIMES[engine]
    cold_start = cold_start or DEFAULT_COLD_START
    try:
        st_file = load_service_times(service_times)
        cs_file = load_cold_start(cold_start)
    except MeasurementError as e:
        raise click.ClickException(str(e)) from e
    if app_workers is None:
        app_workers = st_file.measured_workers
    service = ServiceTimeModel(st_file)
    v = _pick_variant(st_file.engine, list(cs_file.variants), variant)
    try:
        cold = ColdStartModel(cs_file, v, overhead_s=startup_overhead)
    except MeasurementError as e:
        raise click.ClickException(str(e)) from e
    try:
        trace = parse_trace(trace_spec, seed=seed, duration_s=duration)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if chars is not None and trace.chars is None:
        trace = dataclasses.replace(trace, chars=np.full(trace.n, chars, dtype=int))
    base = KpaConfig(container_concurrency=container_concurrency if container_concurrency is not None else app_workers)
    if config_path is not None:
        try:
            base = load_kpa_config(config_path, base)
        except ValueError as e:
            raise click.ClickException(f"{config_path}: {e}") from e
    if container_concurrency is not None:
        base = base.model_copy(update={"container_concurrency": container_concurrency})

    click.echo(
        f"trace: {trace.label}, {trace.n} requests over {trace.duration_s:.0f} s (mean {trace.mean_qps:.2f} QPS)\n"
        f"service times: {st_file.engine} on {st_file.machine} ({st_file.measured_at}, {app_workers} workers"
        f"{'' if app_workers == st_file.measured_workers else f'; measured with {st_file.measured_workers}'}); "
        f"one pod: {service.mean_service_s():.3f} s mean at concurrency 1, "
        f"{service.throughput(max(1, base.container_concurrency or app_workers)):.2f} req/s at "
        f"concurrency {base.container_concurrency or app_workers}\n"
        f"cold start: {v}, median {cold.median_s:.1f} s incl. {startup_overhead:g} s overhead"
    )

    runs: list[tuple[str, object, PodModel]] = [
        ("kpa", KnativeController(base, initial_pods, name=f"Knative KPA cc={base.container_concurrency}"),
         PodModel(container_concurrency=base.container_concurrency, app_workers=app_workers)),
    ]
    if compare:
        plain = PodModel(container_concurrency=0, app_workers=app_workers, queue_proxy=False)
        runs.append(("hpa", HpaController(HpaConfig(), initial_pods), plain))
        runs.append(("keda", KedaController(KedaConfig(), initial_pods), plain))
    results: list[SimResult] = []
    long_run = trace.duration_s > 4 * 3600
    for key, ctl, pm in tqdm(runs, desc="simulating", unit="run", disable=None):
        bar = tqdm(total=int(trace.duration_s), desc=f"  {key} (sim s)", unit="s", leave=False, disable=None) if long_run else None
        last = [0.0]

        def prog(t: float, bar=bar, last=last) -> None:
            if bar is not None:
                bar.update(int(min(t, trace.duration_s) - last[0]))
                last[0] = min(t, trace.duration_s)

        results.append(simulate(trace, ctl, service, cold, pm, initial_pods=initial_pods,  # type: ignore[arg-type]
                                timeout_s=timeout_s, seed=seed, progress=prog))
        if bar is not None:
            bar.close()

    click.echo("")
    click.echo(format_table([_row(r) for r in results]))
    out_dir.mkdir(parents=True, exist_ok=True)
    slo = Slo(p99_s=slo_p99_ms / 1000.0, max_error_rate=max_error_rate)
    summary: dict = {"trace": trace.label, "requests": trace.n, "runs": [_row(r) for r in results],
                     "measurements": {"service_times": str(service_times), "cold_start": str(cold_start), "variant": v,
                                      "app_workers": app_workers}}
    bursts = {r.name: burst_report(r, trace) for r in results}
    if any(bursts.values()):
        click.echo("\nfestival burst (seed: 2 -> 8 replicas within 90 s, p99 < 800 ms, no errors):")
        for name, b in bursts.items():
            click.echo(f"  {name}: {json.dumps(b)}")
        summary["burst"] = bursts
    png = plot_run(results, trace, out_dir / "plan.png", slo_s=slo.p99_s, title=f"{trace.label}: Knative vs the seed's HPA/KEDA")
    click.echo(f"\nplot: {png}")

    if recommend:
        grid = default_grid(trace, service, base)
        if quick:
            grid = {"container_concurrency": grid["container_concurrency"], "min_scale": grid["min_scale"]}
        worst = grid_size({k: val for k, val in grid.items() if k != "min_scale"}) * len(grid["min_scale"])
        with tqdm(total=worst, desc="searching settings", unit="sim", disable=None) as bar:
            rec = search(trace, service, cold, base, slo, initial_pods, app_workers, timeout_s, seed, grid, progress=bar.update)
        pick = rec.best or rec.closest
        verdict = "meets" if rec.best else "NO setting searched meets"
        click.echo(
            f"\nrecommendation ({verdict} p99 <= {slo_p99_ms:g} ms with <= {max_error_rate:.2%} failures; "
            f"{len(rec.evaluated)} configurations simulated):"
        )
        c = pick.cfg
        click.echo(f"  {describe(c, app_workers)}, max-scale {c.max_scale or 'unbounded'}")
        click.echo(format_table([_row(pick.result)]))
        summary["recommendation"] = {"meets_slo": rec.best is not None, "config": c.model_dump(), "result": _row(pick.result)}
        plot_run([*results, pick.result], trace, out_dir / "recommended.png", slo_s=slo.p99_s,
                 title=f"{trace.label}: recommended Knative settings")
        if patch_out is not None:
            note = (f"emotivoice-fn plan --trace {trace_spec}: cheapest settings meeting p99 <= {slo_p99_ms:g} ms "
                    f"({'met' if rec.best else 'NOT met; closest found'}); simulated cost "
                    f"{pick.result.pod_seconds / 3600:.2f} pod-hours, p99 {pick.result.p99 * 1000:.0f} ms")
            try:
                text = kustomize_patch(c, comment=note, workers=app_workers)
            except ValueError as e:
                raise click.ClickException(f"not writing {patch_out}: {e}") from e
            patch_out.parent.mkdir(parents=True, exist_ok=True)
            patch_out.write_text(text)
            click.echo(f"kustomize patch: {patch_out}")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    click.echo(f"summary: {out_dir / 'summary.json'}")


def _json_default(o: object) -> object:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    return str(o)
