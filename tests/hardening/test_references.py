"""Issue 14, Found 1: nothing is read that was not meant to be read.

References (``text_uri``, ``recipients_uri``) reach only our own bucket (or storage root) and prefix,
objects are size-checked before they are read, and no error ever carries content of a reference.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from function.events import types as t
from tests.conftest import run_server
from tests.events.conftest import s3_settings
from tests.events.test_cloudevents import event, reply_of, send
from testkit.s3_server import S3Server

SECRET = "TOP-SECRET-" + uuid.uuid4().hex


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(f'{{"id": "a", "name": "{SECRET}"}}\n{SECRET} spoken aloud')
    return path


def test_local_storage_refuses_files_outside_its_root(tmp_path: Path) -> None:
    secret = _secret_file(tmp_path)
    root = tmp_path / "data"
    with run_server(engine="espeak", storage_dir=root) as srv:
        rep = reply_of(send(srv, event({"text_uri": secret.as_uri()})))  # type: ignore[arg-type]
        batch = httpx.post(f"{srv.url}/v1/batches", json={"template": "{name}", "recipients_uri": secret.as_uri()})
        link = root / "link.txt"
        root.mkdir(exist_ok=True)
        link.symlink_to(secret)  # inside the root by name, outside once the link is resolved
        via_link = reply_of(send(srv, event({"text_uri": link.as_uri()})))  # type: ignore[arg-type]
    assert rep.get_type() == t.SYNTHESIS_FAILED
    assert rep.get_data()["code"] == "reference_forbidden"  # type: ignore[index]
    assert batch.status_code == 403 and batch.json()["error"]["code"] == "reference_forbidden"
    assert via_link.get_data()["code"] == "reference_forbidden"  # type: ignore[index]
    for text in (str(rep.get_data()), batch.text, str(via_link.get_data())):
        assert SECRET not in text


def test_recipients_errors_never_echo_the_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    bad = root / "recipients.jsonl"
    short = SECRET[-12:]  # short enough that a validation message would quote it whole
    bad.write_text(f'{{"id": "no {short}", "name": "{SECRET}"}}\n')  # the id breaks its pattern
    not_json = root / "notjson.jsonl"
    not_json.write_text(f"{SECRET}\n")
    with run_server(engine="espeak", storage_dir=root) as srv:
        invalid = httpx.post(f"{srv.url}/v1/batches", json={"template": "{name}", "recipients_uri": bad.as_uri()})
        garbage = httpx.post(f"{srv.url}/v1/batches", json={"template": "{name}", "recipients_uri": not_json.as_uri()})
    for r in (invalid, garbage):
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_recipients"
        assert SECRET not in r.text and short not in r.text


def test_s3_references_stay_in_our_bucket_and_are_size_checked(s3: S3Server) -> None:
    other = "other-" + uuid.uuid4().hex[:8]
    client = s3.client()
    client.create_bucket(Bucket=other)
    client.put_object(Bucket=other, Key="secret.txt", Body=SECRET.encode())
    settings = s3_settings(s3, max_reference_bytes=64)
    client.put_object(Bucket=s3.bucket, Key=f"{settings['s3_prefix']}in/big.txt", Body=b"x" * 65)
    with run_server(**settings) as srv:
        foreign = send(srv, event({"text_uri": f"s3://{other}/secret.txt"}))
        too_big = reply_of(send(srv, event({"text_uri": f"s3://{s3.bucket}/{settings['s3_prefix']}in/big.txt"})))
        malformed = [reply_of(send(srv, event({"text_uri": uri})))
                     for uri in ("s3://[", "s3://bucket-only", "http://example.com/x", "s3:///nokey")]
    # Permanent (a failed reply, never a 503 the broker would retry forever), and nothing of it read.
    rep = reply_of(foreign)
    assert rep.get_type() == t.SYNTHESIS_FAILED and rep.get_data()["code"] == "reference_forbidden"  # type: ignore[index]
    assert SECRET not in foreign.text
    assert too_big.get_data()["code"] == "reference_too_large"  # type: ignore[index]
    assert [m.get_data()["code"] for m in malformed] == ["invalid_reference"] * 3 + ["invalid_reference"]  # type: ignore[index]


def test_reference_prefix_limits_keys(s3: S3Server) -> None:
    settings = s3_settings(s3, reference_prefix="inputs/")
    s3.client().put_object(Bucket=s3.bucket, Key="elsewhere/a.txt", Body="你好".encode())
    s3.client().put_object(Bucket=s3.bucket, Key="inputs/a.txt", Body="你好".encode())
    with run_server(**settings) as srv:
        outside = reply_of(send(srv, event({"text_uri": f"s3://{s3.bucket}/elsewhere/a.txt"})))
        inside = reply_of(send(srv, event({"text_uri": f"s3://{s3.bucket}/inputs/a.txt", "format": "wav"})))
        traversal = reply_of(send(srv, event({"text_uri": f"s3://{s3.bucket}/inputs/../elsewhere/a.txt"})))
    assert outside.get_data()["code"] == "reference_forbidden"  # type: ignore[index]
    assert traversal.get_data()["code"] == "reference_forbidden"  # type: ignore[index]
    assert inside.get_type() == t.SYNTHESIS_COMPLETED


def test_unknown_voice_name_is_not_echoed_whole(tmp_path: Path) -> None:
    with run_server(engine="espeak", storage_dir=tmp_path) as srv:
        r = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "hi", "voice": "v" * 100_000})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_voice"
    assert len(r.content) < 2_000
