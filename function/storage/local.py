"""Local-directory storage: the embedded default, so events and batches work with no S3 at hand.
Writes go to a temporary file renamed into place, so readers never see half an object.

A leaf: OSError and path problems become storage ServiceErrors here.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from function.storage.base import AlreadyExists, ObjectNotFound, StorageConfigError, StoredObject

_META_SUFFIX = ".meta.json"


class LocalStorage:
    def __init__(self, root: Path, prefix: str) -> None:
        self.root = root.resolve()
        self.prefix = prefix.lstrip("/")

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
            raise ObjectNotFound(f"key {key!r} escapes the storage root")
        return path

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        if not path.is_file():
            return None
        meta = json.loads(Path(str(path) + _META_SUFFIX).read_text()) if Path(str(path) + _META_SUFFIX).exists() else {}
        return StoredObject(key, path.as_uri(), path.stat().st_size, meta.get("content_type", ""),
                            meta.get("metadata", {}))

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str], *,
            if_absent: bool = False) -> StoredObject:
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
        Path(str(path) + _META_SUFFIX).write_text(json.dumps({"content_type": content_type, "metadata": metadata}))
        return StoredObject(key, path.as_uri(), len(data), content_type, metadata)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"{key} not found")
        return path.read_bytes()

    def read_uri(self, uri: str) -> bytes:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ObjectNotFound(f"local storage reads file:// URIs only, got {uri!r}")
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise ObjectNotFound(f"{uri} not found")
        return path.read_bytes()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not base.is_dir():
            return []
        keys = [p.relative_to(self.root).as_posix() for p in base.rglob("*")
                if p.is_file() and not p.name.endswith(_META_SUFFIX) and not p.name.startswith(".part-")]
        return sorted(k for k in keys if k.startswith(prefix))

    def presign(self, key: str, expires_seconds: int) -> str:
        """Local files have no signed URLs; the file URI is the honest answer."""
        return self._path(key).as_uri()

    def close(self) -> None:
        """Nothing held open between calls."""
