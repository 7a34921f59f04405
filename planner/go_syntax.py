"""Go's value syntax, as Knative reads ConfigMap values and annotations, and as its errors print them.

Why not Python's parsers: Knative parses with Go's ``strconv`` and ``time.ParseDuration``, which differ from
``float()``/``int()`` in what they accept (``float(" 1_0 ")`` is 10.0, Go rejects it; ``"60"`` is not a Go
duration, ``"1h0m1s"`` is). A plan must accept exactly what a cluster accepts, and its error messages quote
values the way Knative's do (``%v`` of a float or a ``time.Duration``).

A leaf: the standard library only.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

NS_PER_S = 1_000_000_000
INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


class GoSyntaxError(ValueError):
    """A value Go's parser rejects; the message is Go's (``strconv.ParseFloat: parsing "x": invalid syntax``)."""


# --- strconv ---------------------------------------------------------------------------------------------

_DECIMAL_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
            "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan, "+nan": math.nan, "-nan": math.nan}


def parse_float(s: str) -> float:
    """``strconv.ParseFloat(s, 64)``: decimal or hex floats, inf/nan spellings; no spaces, no ``_``."""
    special = _SPECIAL.get(s.lower())
    if special is not None:
        return special
    if _DECIMAL_FLOAT.fullmatch(s):
        v = float(s)
    elif _HEX_FLOAT.fullmatch(s):
        v = float.fromhex(s)
    else:
        raise GoSyntaxError(f'strconv.ParseFloat: parsing "{s}": invalid syntax')
    if math.isinf(v):
        raise GoSyntaxError(f'strconv.ParseFloat: parsing "{s}": value out of range')
    return v


def parse_int32(s: str) -> int:
    """``strconv.ParseInt(s, 10, 32)``."""
    if not _DECIMAL_INT.fullmatch(s):
        raise GoSyntaxError(f'strconv.ParseInt: parsing "{s}": invalid syntax')
    v = int(s)
    if not -(2**31) <= v <= INT32_MAX:
        raise GoSyntaxError(f'strconv.ParseInt: parsing "{s}": value out of range')
    return v


def is_int32_range_error(e: GoSyntaxError) -> bool:
    return str(e).endswith("value out of range")


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(s: str) -> bool:
    """``strconv.ParseBool``."""
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise GoSyntaxError(f'strconv.ParseBool: parsing "{s}": invalid syntax')


# --- time.Duration -----------------------------------------------------------------------------------------

_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": NS_PER_S,
          "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S}
_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def parse_duration_ns(s: str) -> int:
    """``time.ParseDuration``: ``[-+]?(digits[.digits]unit)+`` or ``0``, in integer nanoseconds."""
    orig, rest, neg = s, s, False
    if rest[:1] in ("-", "+"):
        neg, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise GoSyntaxError(f'time: invalid duration "{orig}"')
    total = 0
    while rest:
        m = _COMPONENT.match(rest)
        assert m is not None
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise GoSyntaxError(f'time: invalid duration "{orig}"')
        if not unit:
            raise GoSyntaxError(f'time: missing unit in duration "{orig}"')
        if unit not in _UNITS:
            raise GoSyntaxError(f'time: unknown unit "{unit}" in duration "{orig}"')
        scale = _UNITS[unit]
        v = int(whole or "0") * scale
        if frac:
            # Go adds float64(fraction) * (float64(unit) / 10^digits), truncated to an integer.
            v += int(float(int(frac)) * (float(scale) / float(10 ** len(frac))))
        total += v
        if total > _INT64_MAX:
            raise GoSyntaxError(f'time: invalid duration "{orig}"')
        rest = rest[m.end():]
    return -total if neg else total


def format_duration_ns(ns: int) -> str:
    """``time.Duration.String()``: ``1h0m0s``, ``1m30s``, ``1.5s``, ``250ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < NS_PER_S:
        for unit, scale in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if u >= scale:
                return sign + _trim(u, scale) + unit
    h, rem = divmod(u, 3600 * NS_PER_S)
    m, rem = divmod(rem, 60 * NS_PER_S)
    out = _trim(rem, NS_PER_S) + "s"
    if h or m:
        out = f"{m}m" + out
    if h:
        out = f"{h}h" + out
    return sign + out


def _trim(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


# --- fmt -----------------------------------------------------------------------------------------------------


def format_v(x: float | int) -> str:
    """Go's ``%v`` of an int, or of a float64: the shortest digits that round-trip, in exponent form when
    the decimal exponent is below -4 or at least 6 (``strconv``'s rule for the shortest ``%g``), so 1.0
    prints ``1``, 0.5 ``0.5`` and 1e6 ``1e+06``."""
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    d = Decimal(repr(abs(x))).normalize()
    _, digit_tuple, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    sig = "".join(map(str, digit_tuple))
    exp = len(sig) + exponent - 1  # decimal exponent of the first significant digit
    if exp < -4 or exp >= 6:
        body = sig[0] + ("." + sig[1:] if len(sig) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= 0:
        whole, frac = sig[: exp + 1].ljust(exp + 1, "0"), sig[exp + 1 :]
        return sign + whole + ("." + frac if frac else "")
    return sign + "0." + "0" * (-exp - 1) + sig


def format_f(x: float) -> str:
    """Go's ``%f``: six decimals."""
    return f"{x:.6f}"
