"""Local-directory storage: the embedded default, so events and batches work with no S3 at hand.
Writes go to a temporary file renamed into place, so readers never see half an object.

A leaf: OSError and path problems become storage ServiceErrors here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from function.errors import shown
from function.storage import base as b
from function.storage.base import AlreadyExists, ObjectNotFound, StorageConfigError, StorageUnavailable, StoredObject

_META_SUFFIX = ".meta.json"


def _write_atomically(path: Path, data: bytes) -> None:
    """Temp file + rename: a concurrent reader sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


@contextmanager
def _translated() -> Iterator[None]:
    """OSError (disk full, permissions, I/O) as the storage error it is; the only translation point."""
    try:
        yield
    except OSError as exc:
        raise StorageUnavailable(f"local storage failed: {type(exc).__name__}: {exc.strerror or exc}") from exc


class LocalStorage:
    def __init__(self, root: Path, prefix: str, *, reference_prefix: str = "",
                 max_reference_bytes: int = 4 * 1024 * 1024) -> None:
        self.root = root.resolve()
        self.prefix = prefix.lstrip("/")
        self.reference_prefix = reference_prefix.lstrip("/")
        self.max_reference_bytes = max_reference_bytes

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise StorageConfigError(f"storage directory {self.root} is not writable: {exc}") from exc

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ObjectNotFound(f"key {shown(key)} escapes the storage root")
        return path

    def head(self, key: str) -> StoredObject | None:
        with _translated():
            return self._head(key)

    def _head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        if not path.is_file():
            return None
        meta_path = Path(str(path) + _META_SUFFIX)
        try:
            meta = json.loads(meta_path.read_bytes())
        except (FileNotFoundError, ValueError):
            meta = {}  # written just after the object: a reader between the two sees no metadata yet
        return StoredObject(key, path.as_uri(), path.stat().st_size, meta.get("content_type", ""),
                            meta.get("metadata", {}))

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str], *,
            if_absent: bool = False) -> StoredObject:
        with _translated():
            return self._put(key, data, content_type, metadata, if_absent)

    def _put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str],
             if_absent: bool) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if if_absent:
            try:
                os.link(tmp, path)  # atomic create-only
            except FileExistsError:
                raise AlreadyExists(key) from None
            finally:
                os.unlink(tmp)
        else:
            os.replace(tmp, path)
        _write_atomically(Path(str(path) + _META_SUFFIX),
                          json.dumps({"content_type": content_type, "metadata": metadata}).encode())
        return StoredObject(key, path.as_uri(), len(data), content_type, metadata)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"{shown(key)} not found")
        with _translated():
            return path.read_bytes()

    def read_reference(self, uri: str) -> bytes:
        try:
            parsed = urlparse(uri)
        except ValueError:
            raise b.invalid_reference(uri, "file:///path") from None
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise b.invalid_reference(uri, "file:///path")
        allowed = (self.root / self.reference_prefix).resolve() if self.reference_prefix else self.root
        try:
            path = Path(unquote(parsed.path)).resolve()  # links resolved before the check
        except (OSError, ValueError):
            raise b.invalid_reference(uri, "file:///path") from None
        if path != allowed and allowed not in path.parents:
            raise b.reference_forbidden(uri, f"files under {allowed}")
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise ObjectNotFound(f"{shown(uri)} is not a file")
            if size > self.max_reference_bytes:
                raise b.reference_too_large(uri, size, self.max_reference_bytes)
            with path.open("rb") as f:
                data = f.read(self.max_reference_bytes + 1)
        except FileNotFoundError:
            raise ObjectNotFound(f"{shown(uri)} not found") from None
        except OSError as exc:
            raise ObjectNotFound(f"{shown(uri)} cannot be read ({type(exc).__name__})") from None
        if len(data) > self.max_reference_bytes:
            raise b.reference_too_large(uri, len(data), self.max_reference_bytes)
        return data

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not base.is_dir():
            return []
        keys = [p.relative_to(self.root).as_posix() for p in base.rglob("*")
                if p.is_file() and not p.name.endswith(_META_SUFFIX) and not p.name.startswith(".part-")]
        return sorted(k for k in keys if k.startswith(prefix))

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _translated():
            path.unlink(missing_ok=True)
            Path(str(path) + _META_SUFFIX).unlink(missing_ok=True)

    def presign(self, key: str, expires_seconds: int) -> str:
        """Local files have no signed URLs; the file URI is the honest answer."""
        return self._path(key).as_uri()

    def close(self) -> None:
        """Nothing held open between calls."""
