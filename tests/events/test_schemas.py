"""Every event type has a published JSON schema that real payloads validate against."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from function.cli import main
from function.events import types as t

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_schemas_written_and_usable(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["event-schemas", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = {p.name for p in tmp_path.glob("*.schema.json")}
    assert files == {f"{name}.schema.json" for name in (*t.CONSUMED, *t.EMITTED)}
    request = json.loads((tmp_path / f"{t.SYNTHESIS_REQUESTED}.schema.json").read_text())
    jsonschema.validate({"text": "你好", "voice": "alloy", "emotion": "开心", "format": "wav"}, request)
    try:
        jsonschema.validate({"text": "你好", "colour": "red"}, request)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("unknown fields must be rejected by the schema")
    batch = json.loads((tmp_path / f"{t.BATCH_REQUESTED}.schema.json").read_text())
    jsonschema.validate({"template": "{name}，新年快乐！", "recipients": [{"id": "a1", "name": "小明"}]}, batch)


def test_consumed_and_emitted_types_never_overlap_and_are_documented() -> None:
    assert not set(t.CONSUMED) & set(t.EMITTED)
    for name in (*t.CONSUMED, *t.EMITTED):
        assert f"`{name}`" in README, name
