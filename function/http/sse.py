"""OpenAI's speech server-sent events: ``speech.audio.delta`` events carrying base64 audio, then
``speech.audio.done``. The deltas concatenated form one valid file of the requested format.

Imports the service's Job; never ``function.events``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

from function.service.job import Job


async def sse(job: Job, input_chars: int) -> AsyncIterator[bytes]:
    audio_bytes = 0
    async for data in job.encoded():
        audio_bytes += len(data)
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
        yield f"data: {json.dumps(event)}\n\n".encode()
    usage = {"input_tokens": input_chars, "output_tokens": audio_bytes, "total_tokens": input_chars + audio_bytes}
    yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n".encode()
