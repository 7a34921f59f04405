"""The steps every synthesis route shares: check the text, take a queue slot, resolve voice and style,
and start the job. Order matters: cheap checks first, and the slot is released on any failure."""

from __future__ import annotations

from dataclasses import dataclass

from function.engines.base import Engine, Style, SynthesisRequest, Voice
from function.engines.text import has_speakable
from function.http.audio_stream import StartedJob, start
from function.http.context import AppContext
from function.http.errors import ApiError
from function.service.synthesis import Ticket


@dataclass
class Job:
    engine: Engine
    voice: Voice
    style: Style
    ticket: Ticket
    started: StartedJob

    def headers(self, sample_rate: int) -> dict[str, str]:
        """Response headers saying what was really used, e.g. that an unknown prompt fell back to neutral.
        Header values are ASCII: the prompt itself is not echoed."""
        return {
            "X-Engine": self.engine.name,
            "X-Voice": self.voice.id,
            "X-Emotion": self.style.emotion,
            "X-Emotion-Fallback": "true" if self.style.fallback else "false",
            "X-Sample-Rate": str(sample_rate),
        }


def check_text(ctx: AppContext, text: str, param: str) -> None:
    if not text.strip():
        raise ApiError(400, "empty_input", f"'{param}' must not be empty.", param)
    limit = ctx.settings.max_input_chars
    if len(text) > limit:
        raise ApiError(413, "input_too_long", f"'{param}' has {len(text)} characters; the limit is {limit}.", param)
    if not has_speakable(text):
        raise ApiError(400, "invalid_text", f"'{param}' has no letters, digits or Chinese characters to speak.", param)


async def begin(ctx: AppContext, request: SynthesisRequest, text_param: str) -> Job:
    check_text(ctx, request.text, text_param)
    ticket = ctx.service.admit()
    try:
        engine = await ctx.engine()
        voice = engine.resolve_voice(request.voice)
        style = engine.resolve_style(request.prompt)
        started = await start(ticket, request)
    except BaseException:
        ticket.release()
        raise
    return Job(engine, voice, style, ticket, started)
