"""Object storage for results, batch manifests and referenced inputs: S3-compatible or a local directory."""

from function.storage.base import (
    AlreadyExists,
    ObjectNotFound,
    Storage,
    StorageConfigError,
    StorageError,
    StorageUnavailable,
    StoredObject,
)
from function.storage.factory import open_storage

__all__ = [
    "AlreadyExists", "ObjectNotFound", "Storage", "StorageConfigError", "StorageError", "StorageUnavailable",
    "StoredObject", "open_storage",
]
