"""``emotivoice-fn snapshot``: the build-time command, joined to the CLI through the
``emotivoice_fn.commands`` entry-point group (the serving package never imports this build step)."""

from __future__ import annotations

from pathlib import Path

import click

from function.cli import load_settings


@click.command("snapshot")
@click.option("--home", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="EmotiVoice home to compile (default: EMOTIVOICE_HOME).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Snapshot directory to write (default: EMOTIVOICE_SNAPSHOT).")
@click.option("--tolerance", type=float, default=None,
              help="Largest allowed |snapshot - eager| on the waveform over the parity sentences (default 1e-3).")
@click.option("--executor", type=click.Choice(["simple", "legacy", "profiling"]), default="simple", show_default=True,
              help="TorchScript executor the snapshot runs with: simple (no profiling, no run-time graph passes: "
                   "fastest first audio), legacy (no profiling), profiling (torch's default).")
@click.option("--freeze", is_flag=True,
              help="torch.jit.freeze the modules (weights then live inside the archives and are copied at load "
                   "instead of memory-mapped: slower cold start here, same speed after).")
@click.option("--optimize", is_flag=True, help="Also apply torch.jit.optimize_for_inference (slower here: off).")
@click.option("--onnx/--no-onnx", "onnx", default=True, show_default=True,
              help="Also export ONNX graphs (verified against eager) for the torch-free ONNX Runtime path.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out directory.")
@click.option("--verify", "verify_only", is_flag=True,
              help="Do not build: check the snapshot at --out (versions, sizes, sha256, loads and speaks).")
def snapshot_cmd(home: Path | None, out: Path | None, tolerance: float | None, executor: str, freeze: bool,
                 optimize: bool, onnx: bool, force: bool, verify_only: bool) -> None:
    """Compile an EmotiVoice home into a snapshot directory (TorchScript + fast frontend data) for fast
    cold starts; serve it with EMOTIVOICE_SNAPSHOT=DIR."""
    import json

    settings = load_settings()
    out = out or settings.snapshot
    if out is None:
        raise click.UsageError("give --out DIR (or set EMOTIVOICE_SNAPSHOT)")
    if verify_only:
        from snapshot.build import verify_snapshot

        try:
            manifest = verify_snapshot(out)
        except Exception as exc:  # noqa: BLE001 - report, exit 1
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{out}: snapshot format {manifest['format_version']}, torch {manifest['torch_version']}, "
                   f"engine {manifest['engine_version']}: OK")
        return
    home = home or settings.home
    if home is None:
        raise click.UsageError("give --home DIR (or set EMOTIVOICE_HOME)")
    from snapshot.build import DEFAULT_TOLERANCE, BuildError, build_snapshot

    try:
        manifest = build_snapshot(home, out, tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
                                  executor=executor, freeze=freeze, optimize=optimize, force=force, onnx=onnx)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    size = sum(f["bytes"] for f in manifest["files"].values())
    click.echo(f"snapshot written to {out} ({size / 1e6:.1f} MB) in {manifest['build_seconds']} s; parity "
               f"{json.dumps(manifest['parity'])}")
    if "onnx" in manifest:
        click.echo(f"ONNX graphs (onnxruntime {manifest['onnx']['onnxruntime_version']}) parity "
                   f"{json.dumps(manifest['onnx']['parity'])}")
