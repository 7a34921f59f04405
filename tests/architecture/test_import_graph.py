"""Imports in the serving package go downward only (see ``layers.py`` for the rule)."""

from __future__ import annotations

from pathlib import Path

from tests.architecture.layers import LAYERS, check, imports, module_name

ROOT = Path(__file__).resolve().parents[2]


def test_function_package_imports_downward_only() -> None:
    violations = check(ROOT)
    assert not violations, "layering violations:\n" + "\n".join(map(str, violations))


def test_planner_and_testkit_stay_outside_the_serving_path() -> None:
    """The planner is a development tool: it imports nothing of the serving package (so it can be
    installed and run without it); nothing in function/ imports the planner, testkit or the build step
    (checked above)."""
    offenders = []
    for path in sorted((ROOT / "planner").rglob("*.py")):
        module = module_name(ROOT, path)
        offenders += [f"{module}:{line} imports {name}" for name, line in imports(path, module)
                      if name.split(".")[0] == "function"]
    assert not offenders, offenders


def _fake_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_checker_finds_upward_sideways_and_outside_imports(tmp_path: Path) -> None:
    """The checker itself can fail: each kind of violation in a small fake package is reported."""
    root = _fake_tree(tmp_path, {
        "function/__init__.py": "",
        "function/errors.py": "",
        "function/service/__init__.py": "",
        "function/service/synthesis.py": "def f():\n    from function.http import app  # lazy, still upward\n",
        "function/storage/__init__.py": "from function.service.synthesis import f\n",
        "function/events/__init__.py": "",
        "function/events/ingress.py": "from function.http.errors import install\n",
        "function/http/__init__.py": "",
        "function/http/errors.py": "from function.errors import *\n",
        "function/engines/__init__.py": "import snapshot.build\n",
    })
    found = {(v.importer, v.imported.split(".")[1] if "." in v.imported else v.imported) for v in check(root)}
    assert ("function.service.synthesis", "http") in found  # upward, inside a function body
    assert ("function.storage", "service") in found  # a leaf importing the service layer
    assert ("function.events.ingress", "http") in found  # sideways between interfaces
    assert ("function.engines", "build") in found or any(v.importer == "function.engines" for v in check(root))
    assert not any(v.importer == "function.http.errors" for v in check(root))  # downward is fine


def test_every_module_has_a_layer() -> None:
    modules = [p for p in (ROOT / "function").rglob("*.py")]
    assert modules and all(any(str(p.relative_to(ROOT).with_suffix("")).replace("/", ".").startswith(prefix)
                               for prefix in LAYERS) for p in modules)
