"""``emotivoice-fn``: serve the function, speak a line to a file, list voices, print event schemas; the
snapshot build step and the capacity planner join as plugin commands.

An entry point: it may import any layer of ``function`` (lazily, to keep ``--help`` fast), never the
top-level ``snapshot``, ``planner`` or test packages.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING

import click

from function.errors import ServiceError
from function.settings import Settings

if TYPE_CHECKING:
    from function.service.job import Job
    from function.service.synthesis import SynthesisLimits, SynthesisService


def load_settings() -> Settings:
    """Settings from the environment, or a one-line configuration error instead of a traceback."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"invalid configuration: {problems}") from None


PLUGIN_GROUP = "emotivoice_fn.commands"


class PluginGroup(click.Group):
    """Commands of the other packages installed with this one (the snapshot build step, the capacity
    planner) join through the ``emotivoice_fn.commands`` entry-point group (see pyproject.toml), so the
    serving package never imports them and a serving image without them still has a working CLI."""

    def _plugins(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        plugin = self._plugins().get(cmd_name) if command is None else None
        if plugin is None:
            return command
        try:
            loaded = plugin.load()
        except ImportError as exc:
            message = f"'{cmd_name}' needs a package this installation lacks ({exc})"

            @click.command(cmd_name, help=f"Unavailable here: {message}.")
            def unavailable() -> None:
                raise click.ClickException(message)

            return unavailable
        return loaded  # type: ignore[no-any-return]


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """EmotiVoice expressive text-to-speech as a serverless function.

    Configuration comes from EMOTIVOICE_* environment variables (see the README's table).
    """


@main.command()
@click.option("--host", default=None, help="Bind address (default: EMOTIVOICE_HOST or 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port (default: PORT or 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Run the HTTP server (OpenAI-compatible + native API, CloudEvents, health, metrics).

    SIGTERM drains: readiness fails at once, new work gets 503 shutting_down, admitted work completes
    (up to EMOTIVOICE_REQUEST_TIMEOUT_SECONDS), then the process exits. A second signal exits at once.
    """
    from function.logs import configure
    from function.service.runtime import Runtime

    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    runtime = Runtime(settings)
    # Start loading the engine before importing the HTTP stack: creating ONNX Runtime sessions releases
    # the GIL, so it overlaps FastAPI's imports instead of following them (the lifespan's start is a no-op).
    runtime.start()
    from function.http.app import create_app
    from function.http.server import serve as run_server

    run_server(runtime, create_app(settings, runtime=runtime), host or settings.host, port or settings.port)


@main.command()
@click.argument("text")
@click.option("--voice", "-v", default=None, help="Voice id, name or OpenAI voice name (default: first voice).")
@click.option("--emotion", "-e", default="", help="Emotion or free-text style prompt, e.g. 开心 or 'very sad'.")
@click.option("--speed", type=click.FloatRange(0.25, 4.0), default=1.0, show_default=True)
@click.option("--language", type=click.Choice(["auto", "zh", "en"]), default="auto", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("out.wav"),
              show_default=True, help="Output file; the format follows the extension (wav mp3 opus aac flac pcm).")
def say(text: str, voice: str | None, emotion: str, speed: float, language: str, output: Path) -> None:
    """Synthesise TEXT into an audio file with the configured engine.

    Exit status follows the failure's kind: 65 bad input (unknown voice, nothing to speak), 69 engine
    unavailable, 70 internal error.
    """
    import asyncio

    from function.audio.encoding import FORMATS

    fmt = output.suffix.lstrip(".").lower() or "wav"
    if fmt not in FORMATS:
        raise click.BadParameter(f"unsupported extension .{fmt}; use one of {', '.join(FORMATS)}", param_hint="-o")
    service = _synthesis_service(load_settings())
    try:
        data, seconds, job = asyncio.run(_say(service, text, voice, emotion, speed, language, fmt))
    finally:
        service.shutdown()
    output.write_bytes(data)
    note = " (prompt not recognised: neutral)" if job.style.fallback else ""
    click.echo(f"{output}: {seconds:.2f} s, voice {job.voice.id}, emotion {job.style.emotion}{note}, "
               f"engine {job.engine.name}")


class ServiceFailure(click.ClickException):
    """A ServiceError on the command line: its message, and an exit status from its kind."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(error.message)
        self.exit_code = error.kind.exit_status


def _synthesis_service(settings: Settings) -> SynthesisService:
    """The service of the HTTP server, minus storage and HTTP: one worker, the engine loaded right here."""
    from function.engines.registry import load_engine
    from function.metrics import Metrics
    from function.service.engine_host import EngineHost
    from function.service.synthesis import SynthesisLimits, SynthesisService

    host = EngineHost(lambda: load_engine(settings))
    host.load()
    if host.error:
        raise click.ClickException(f"the engine failed to load: {host.error}")
    return SynthesisService(host, Metrics(), SynthesisLimits(
        workers=1, queue_size=0, queue_timeout_seconds=3600, retry_after_seconds=settings.retry_after_seconds,
        max_input_chars=settings.max_input_chars, request_timeout_seconds=24 * 3600))


async def _say(service: SynthesisService, text: str, voice: str | None, emotion: str, speed: float, language: str,
               fmt: str) -> tuple[bytes, float, Job]:
    from function.engines.base import SynthesisRequest

    engine = await service.ready_engine()
    request = SynthesisRequest(text, voice or engine.voices()[0].id, emotion, speed, language, fmt)  # type: ignore[arg-type]
    try:
        job = await service.open(request, text_param="TEXT")
        data, chunks = await job.whole()
    except ServiceError as exc:
        raise ServiceFailure(exc) from None
    return data, sum(c.duration_seconds for c in chunks), job


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


@main.command("voice-index")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory to write the index to (default: EMOTIVOICE_SNAPSHOT, else EMOTIVOICE_VOICE_INDEX_DIR).")
@click.option("--speakers", type=click.IntRange(min=1), default=None,
              help="Only the first N voices of the engine (a subset: custom voices then match among these only).")
@click.option("--speaker-ids", default=None, help="Only these voices, comma-separated ids (a subset).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes, each with its own engine (set EMOTIVOICE_TORCH_THREADS so jobs x threads fits the cores).")
def voice_index(out: Path | None, speakers: int | None, speaker_ids: str | None, jobs: int) -> None:
    """Build the voice index of the configured engine (embeddings of its built-in voices from fixed probe
    sentences), which custom voices are matched against. EmotiVoice needs it built ahead (2,000+
    speakers); espeak builds its own at first use."""
    import time

    from function.engines.registry import load_engine
    from function.service.custom_voices import build_voice_index

    settings = load_settings()
    engine, _ = load_engine(settings)
    ids: list[str] | None = None
    if speaker_ids:
        ids = [s.strip() for s in speaker_ids.split(",") if s.strip()]
    elif speakers is not None:
        ids = [v.id for v in engine.voices()[:speakers]]
    started = time.perf_counter()
    total = len(ids) if ids is not None else len(engine.voices())

    def progress(done: int, count: int, voice: str) -> None:
        if done == count or done % max(1, count // 20) == 0:
            click.echo(f"  {done}/{count} voices ({voice}), {time.perf_counter() - started:.1f} s", err=True)

    click.echo(f"embedding {total} voices of engine {engine.name}...", err=True)
    try:
        index, path = build_voice_index(settings, engine, voice_ids=ids, out=out, jobs=jobs, progress=progress)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{path}: {len(index.ids)} voices{' (subset)' if index.meta.get('subset') else ''}, "
               f"built in {index.meta['build_seconds']} s")


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
