"""Build the configured storage backend from settings.

A leaf: imports only ``function.settings`` and the storage backends.
"""

from __future__ import annotations

from function.settings import Settings
from function.storage.base import Storage, StorageConfigError
from function.storage.breaker import BreakerStorage
from function.storage.local import LocalStorage


def open_storage(settings: Settings) -> Storage:
    """The configured backend behind a circuit breaker (every setting it needs is read here)."""
    return BreakerStorage(_backend(settings), failures=settings.storage_breaker_failures,
                          cool_down=settings.storage_breaker_seconds)


def _backend(settings: Settings) -> Storage:
    if settings.storage == "local":
        return LocalStorage(settings.storage_dir, settings.s3_prefix, reference_prefix=settings.reference_prefix,
                            max_reference_bytes=settings.max_reference_bytes)
    from function.storage.s3 import S3Storage  # boto3 costs ~70 ms of cold start; only S3 deployments pay it

    if not settings.s3_bucket:
        raise StorageConfigError("EMOTIVOICE_STORAGE=s3 needs EMOTIVOICE_S3_BUCKET")
    return S3Storage(
        bucket=settings.s3_bucket, prefix=settings.s3_prefix, endpoint=settings.s3_endpoint, region=settings.s3_region,
        addressing_style=settings.s3_addressing_style, multipart_threshold=settings.multipart_threshold_bytes,
        connect_timeout=settings.s3_connect_timeout_seconds, read_timeout=settings.s3_read_timeout_seconds,
        max_attempts=settings.s3_max_attempts, reference_prefix=settings.reference_prefix,
        max_reference_bytes=settings.max_reference_bytes,
    )