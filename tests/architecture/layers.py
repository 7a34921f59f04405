"""The layering rule of the ``function`` package, and a standard-library checker for it.

Data flows one way: entry points -> interfaces -> edge -> service -> engines -> leaves. A module may
import its own layer or any layer below it, never one above. On top of that, a few sideways imports
are forbidden because they couple things that must stay apart (the two HTTP-borne interfaces; the two
engines), and the serving package never imports the build step, the planner or test code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# Longest prefix wins. Numbers are heights: an import must not go up.
LAYERS: dict[str, tuple[int, str]] = {
    # leaves: import nothing of ours above them
    "function.errors": (0, "leaf"),
    "function.settings": (0, "leaf"),
    "function.metrics": (0, "leaf"),
    "function.logs": (0, "leaf"),
    "function.auth": (0, "leaf"),
    "function.ratelimit": (0, "leaf"),
    "function.sink": (0, "leaf"),
    "function.storage": (0, "leaf"),
    "function.audio": (0, "leaf"),
    "function.engines": (1, "engines"),
    "function.service": (2, "service"),
    "function.edge": (3, "edge"),
    "function.http": (4, "interface"),
    "function.events": (4, "interface"),
    # entry points compose interfaces: the CLI, the func-python object, the ASGI app factory
    "function.cli": (5, "entry"),
    "function.func": (5, "entry"),
    "function.http.app": (5, "entry"),
    "function": (5, "entry"),  # the package's own __init__
}

# (importer prefix, imported prefix): forbidden even though the heights allow it.
SIDEWAYS: tuple[tuple[str, str], ...] = (
    ("function.events", "function.http"),
    ("function.http.routes", "function.events"),
    ("function.http.middleware", "function.events"),
    ("function.http.errors", "function.events"),
    ("function.http.schemas", "function.events"),
    ("function.http.sse", "function.events"),
    ("function.engines.espeak", "function.engines.emotivoice"),
    ("function.engines.emotivoice", "function.engines.espeak"),
)

# Top-level packages of ours that the serving package must never import.
OUTSIDE = ("snapshot", "planner", "testkit", "bench", "tests")


@dataclass(frozen=True)
class Violation:
    importer: str
    imported: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}: {self.why}"


def _layer(module: str) -> tuple[str, int, str] | None:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else (best, *LAYERS[best])


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str) -> list[tuple[str, int]]:
    """Every module ``path`` imports, anywhere in the file (function bodies and TYPE_CHECKING included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
            # `from function.engines import emotivoice` imports the submodule too
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return found


def check(root: Path, package: str = "function") -> list[Violation]:
    """All layering violations of ``package`` under ``root`` (the directory holding the package)."""
    violations: list[Violation] = []
    for path in sorted((root / package).rglob("*.py")):
        importer = module_name(root, path)
        own = _layer(importer)
        if own is None:
            violations.append(Violation(importer, importer, 0, "module has no layer in LAYERS"))
            continue
        for imported, line in imports(path, importer):
            top = imported.split(".")[0]
            if top in OUTSIDE:
                violations.append(Violation(importer, imported, line, f"the serving package must not import {top}"))
                continue
            target = _layer(imported)
            if top != package or target is None:
                continue
            if target[1] > own[1]:
                violations.append(Violation(importer, imported, line,
                                            f"upward: {own[2]} ({own[0]}) -> {target[2]} ({target[0]})"))
            for low, high in SIDEWAYS:
                if (importer == low or importer.startswith(low + ".")) and (
                        imported == high or imported.startswith(high + ".")):
                    violations.append(Violation(importer, imported, line, f"sideways: {low} must not import {high}"))
    return violations
