"""Arabic numerals -> Chinese numerals, the way upstream's frontend reads them.

Upstream converts every number in the *whole* text (even inside English) with cn2an's ``an2cn`` in "low"
mode before anything else, so "2023" is spoken 二千零二十三 and "15%" 十五 (the ``%`` is not read).
Upstream's own pattern (a digit followed by digits and dots) crashes on ``1.2.3`` or ``3.``; the stricter
pattern below reproduces every golden and turns such inputs into several numbers instead of a crash.
Owns number reading only; imports nothing of the engine.
"""

from __future__ import annotations

import logging
import re

import cn2an

log = logging.getLogger(__name__)

NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _convert(match: re.Match[str]) -> str:
    token = match.group(0)
    try:
        return str(cn2an.an2cn(token, "low"))
    except Exception:  # pragma: no cover - cn2an accepts every string NUMBER matches; stay safe anyway
        log.warning("number left unconverted", extra={"number": token})
        return token


def numbers_to_chinese(text: str) -> str:
    """Replace every Arabic number (integer or decimal) by its Chinese reading."""
    return NUMBER.sub(_convert, text)
