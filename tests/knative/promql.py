"""Which metric names a PromQL expression reads, and which sample names a /metrics page exposes.

A small tokenizer, not a full PromQL parser: it removes string literals, label matchers `{...}`, range and
subquery brackets `[...]` and grouping clauses `by (...)` / `without (...)` / `on (...)` /
`ignoring (...)` / `group_left (...)` / `group_right (...)`, then every remaining identifier that is not
a function call, a keyword or a number is a metric name. Recording-rule names (containing ':') are
resolved through the rules that define them. Unit tests in test_observability.py pin its behaviour.
"""

from __future__ import annotations

import re

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
    "bool", "inf", "nan", "atan2", "topk", "bottomk", "quantile", "count_values", "start", "end",
}
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    s = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    s = re.sub(r"'(?:\\.|[^'\\])*'", "''", s)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\[\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    names = set()
    for m in _IDENT.finditer(s):
        word = m.group(0)
        prev = s[m.start() - 1] if m.start() else " "
        if prev.isdigit() or prev == ".":  # e.g. the "m" of 5m, "e" of 1e3
            continue
        rest = s[m.end():].lstrip()
        if rest.startswith("("):  # function or aggregation call
            continue
        if word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def exposed_sample_names(metrics_text: str) -> set[str]:
    """Every sample name a /metrics page can produce, from its # TYPE lines (so labelled metrics with no
    samples yet still count) plus the samples themselves."""
    from prometheus_client.parser import text_string_to_metric_families

    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "gauge": ("",),
        "info": ("_info",),
        "stateset": ("",),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "unknown": ("",),
    }
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
        for sample in family.samples:
            names.add(sample.name)
    return names
