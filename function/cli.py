"""``emotivoice-fn``: serve the function, speak a line to a file, list voices (and more, per issue)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from function.settings import Settings


def load_settings() -> Settings:
    """Settings from the environment, or a one-line configuration error instead of a traceback."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"invalid configuration: {problems}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """EmotiVoice expressive text-to-speech as a serverless function.

    Configuration comes from EMOTIVOICE_* environment variables (see the README's table).
    """


@main.command()
@click.option("--host", default=None, help="Bind address (default: EMOTIVOICE_HOST or 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port (default: PORT or 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Run the HTTP server (OpenAI-compatible + native API, health, metrics)."""
    import uvicorn

    from function.http.app import create_app
    from function.logs import configure

    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_config=None,
                timeout_graceful_shutdown=30)


@main.command()
@click.argument("text")
@click.option("--voice", "-v", default=None, help="Voice id, name or OpenAI voice name (default: first voice).")
@click.option("--emotion", "-e", default="", help="Emotion or free-text style prompt, e.g. 开心 or 'very sad'.")
@click.option("--speed", type=click.FloatRange(0.25, 4.0), default=1.0, show_default=True)
@click.option("--language", type=click.Choice(["auto", "zh", "en"]), default="auto", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("out.wav"),
              show_default=True, help="Output file; the format follows the extension (wav mp3 opus aac flac pcm).")
def say(text: str, voice: str | None, emotion: str, speed: float, language: str, output: Path) -> None:
    """Synthesise TEXT into an audio file with the configured engine."""
    from function.audio.encoding import FORMATS, make_encoder
    from function.engines.base import EngineError, SynthesisRequest
    from function.engines.registry import load_engine

    fmt = output.suffix.lstrip(".").lower() or "wav"
    if fmt not in FORMATS:
        raise click.BadParameter(f"unsupported extension .{fmt}; use one of {', '.join(FORMATS)}", param_hint="-o")
    engine, _ = load_engine(load_settings())
    try:
        chosen = engine.resolve_voice(voice) if voice else engine.voices()[0]
        style = engine.resolve_style(emotion)
        encoder = make_encoder(fmt, engine.sample_rate, streaming=False)  # type: ignore[arg-type]
        seconds = 0.0
        data = b""
        for chunk in engine.synthesize(SynthesisRequest(text, chosen.id, emotion, speed, language)):  # type: ignore[arg-type]
            data += encoder.encode(chunk.pcm)
            seconds += chunk.duration_seconds
        data += encoder.finish()
    except EngineError as exc:
        raise click.ClickException(exc.message) from exc
    output.write_bytes(data)
    note = " (prompt not recognised: neutral)" if style.fallback else ""
    click.echo(f"{output}: {seconds:.2f} s, voice {chosen.id}, emotion {style.emotion}{note}, engine {engine.name}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def voices(as_json: bool) -> None:
    """List the configured engine's voices (id, name, gender, language, aliases)."""
    import json

    from function.engines.registry import load_engine

    engine, _ = load_engine(load_settings())
    rows = engine.voices()
    if as_json:
        click.echo(json.dumps([{"id": v.id, "name": v.name, "gender": v.gender, "language": v.language,
                                "aliases": list(v.aliases)} for v in rows], ensure_ascii=False, indent=2))
        return
    click.echo(f"engine: {engine.name}, {len(rows)} voices")
    for v in rows:
        aliases = f"  (= {', '.join(v.aliases)})" if v.aliases else ""
        click.echo(f"{v.id:<12} {v.name:<10} {v.gender:<7} {v.language:<3} {v.description}{aliases}")


from function.planner.cli import plan  # noqa: E402  (issue 7: capacity planner)
main.add_command(plan)

@main.command("snapshot")
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
@click.option("--force", is_flag=True, help="Replace a non-empty --out directory.")
@click.option("--verify", "verify_only", is_flag=True,
              help="Do not build: check the snapshot at --out (versions, sizes, sha256, loads and speaks).")
def snapshot_cmd(home: Path | None, out: Path | None, tolerance: float | None, executor: str, freeze: bool,
                 optimize: bool, force: bool, verify_only: bool) -> None:
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
                                  executor=executor, freeze=freeze, optimize=optimize, force=force)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    size = sum(f["bytes"] for f in manifest["files"].values())
    click.echo(f"snapshot written to {out} ({size / 1e6:.1f} MB) in {manifest['build_seconds']} s; parity "
               f"{json.dumps(manifest['parity'])}")


@main.command("event-schemas")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write one <type>.schema.json per event type here instead of printing them.")
def event_schemas(out: Path | None) -> None:
    """Print (or write) the JSON schema of the data of every CloudEvent type consumed or emitted."""
    import json

    from function.events.types import SCHEMAS

    schemas = {name: model.model_json_schema() for name, model in SCHEMAS.items()}
    if out is None:
        click.echo(json.dumps(schemas, ensure_ascii=False, indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (out / f"{name}.schema.json").write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n")
    click.echo(f"{len(schemas)} schemas written to {out}")


if __name__ == "__main__":
    sys.exit(main())
