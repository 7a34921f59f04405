"""Arabic numerals -> Chinese numerals, the way upstream's frontend reads them.

Upstream converts every number in the *whole* text (even inside English) with cn2an's ``an2cn`` in "low"
mode before anything else, so "2023" is spoken 二千零二十三 and "15%" 十五 (the ``%`` is not read).
Upstream's own pattern (a digit followed by digits and dots) crashes on ``1.2.3`` or ``3.``; the stricter
pattern below reproduces every golden and turns such inputs into several numbers instead of a crash.
Owns number reading only; imports nothing of the engine.

cn2an costs ~0.35 s to import (its ``proces`` modules build tables) and only text with a digit needs it,
so it is imported by the first number converted, not with this module: the engine loads and the warm-up
and a first request without digits never pay it. That it is installed is still checked here (a module
lookup, no import), so an image without it fails at engine load, as it did when it was imported here.
Python's import lock makes the first import safe from several worker threads at once.
"""

from __future__ import annotations

import importlib.util
import logging
import re

log = logging.getLogger(__name__)

NUMBER = re.compile(r"\d+(?:\.\d+)?")

if importlib.util.find_spec("cn2an") is None:  # pragma: no cover - an install without the emotivoice extra
    raise ModuleNotFoundError("No module named 'cn2an': install the emotivoice extra", name="cn2an")


def _convert(match: re.Match[str]) -> str:
    import cn2an

    token = match.group(0)
    try:
        return str(cn2an.an2cn(token, "low"))
    except Exception:  # pragma: no cover - cn2an accepts every string NUMBER matches; stay safe anyway
        log.warning("number left unconverted", extra={"number": token})
        return token


def numbers_to_chinese(text: str) -> str:
    """Replace every Arabic number (integer or decimal) by its Chinese reading."""
    return NUMBER.sub(_convert, text)
