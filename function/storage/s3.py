"""S3-compatible storage through boto3 (AWS, SeaweedFS, MinIO, ...).

A leaf: botocore's exceptions become storage ServiceErrors here, nowhere else.
"""

from __future__ import annotations

import io
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from function.errors import Kind, ServiceError, shown
from function.storage.base import (
    AlreadyExists,
    ObjectNotFound,
    StorageConfigError,
    StorageUnavailable,
    StoredObject,
    invalid_reference,
    reference_forbidden,
    reference_too_large,
)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_PERMISSION = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
_PART_SIZE = 8 * 1024 * 1024


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Storage:
    def __init__(self, *, bucket: str, prefix: str, endpoint: str | None, region: str, addressing_style: str,
                 multipart_threshold: int, connect_timeout: float = 2.0, read_timeout: float = 5.0,
                 max_attempts: int = 2, reference_prefix: str = "", max_reference_bytes: int = 4 * 1024 * 1024) -> None:
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        self.reference_prefix = reference_prefix.lstrip("/")
        self.max_reference_bytes = max_reference_bytes
        self.multipart_threshold = multipart_threshold
        # A session of our own: boto3's default session caches credentials process-wide.
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            config=botocore.config.Config(
                s3={"addressing_style": addressing_style},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"total_max_attempts": max_attempts, "mode": "standard"},  # first try included
            ),
        )

    def _call(self, fn, /, **kwargs):  # type: ignore[no-untyped-def]
        """Call boto3; every botocore failure leaves as a storage ServiceError (this is the only place)."""
        try:
            return fn(**kwargs)
        except botocore.exceptions.ClientError as exc:
            code = _code(exc)
            if code in _NOT_FOUND:
                raise ObjectNotFound(f"{shown(self.uri(kwargs.get('Key', '')))} not found") from None
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise AlreadyExists(kwargs.get("Key", "")) from exc
            if code in _PERMISSION:
                raise StorageConfigError(f"S3 refused access to bucket {self.bucket!r}: {code}") from exc
            if code == "NoSuchBucket":
                raise StorageConfigError(f"S3 bucket {self.bucket!r} does not exist") from exc
            raise StorageUnavailable(f"S3 error {code}: {exc}") from exc
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError,
                botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as exc:
            raise StorageUnavailable(f"S3 unreachable: {exc}") from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise StorageConfigError("No S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from exc
        except botocore.exceptions.ParamValidationError:
            raise ServiceError(Kind.INVALID, "invalid_key",
                               f"{shown(str(kwargs.get('Key', '')))} is not a valid S3 key.") from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:  # broken streams, TLS, resets
            raise StorageUnavailable(f"S3 failed: {type(exc).__name__}") from exc

    def _read(self, **kwargs: object) -> bytes:
        """GET an object and read its body (reads fail lazily: inside the same translation)."""
        limit = kwargs.pop("limit", None)

        def fetch(**_: object) -> bytes:
            body = self._client.get_object(**kwargs)["Body"]
            return body.read() if limit is None else body.read(limit)  # type: ignore[no-any-return]

        return self._call(fetch, Key=kwargs.get("Key", ""))  # type: ignore[no-any-return]

    def check(self) -> None:
        try:
            self._call(self._client.head_bucket, Bucket=self.bucket)
        except ObjectNotFound as exc:
            raise StorageConfigError(f"S3 bucket {self.bucket!r} does not exist") from exc

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def head(self, key: str) -> StoredObject | None:
        try:
            r = self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return None
        return StoredObject(key, self.uri(key), int(r["ContentLength"]), r.get("ContentType", ""),
                            dict(r.get("Metadata", {})))

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str], *,
            if_absent: bool = False) -> StoredObject:
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        if len(data) >= self.multipart_threshold:
            self._put_multipart(key, data, content_type, metadata, extra)
        else:
            self._call(self._client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                       Metadata=metadata, **extra)
        return StoredObject(key, self.uri(key), len(data), content_type, metadata)

    def _put_multipart(self, key: str, data: bytes, content_type: str, metadata: dict[str, str],
                       extra: dict[str, str]) -> None:
        """Parts become visible only on completion; any failure aborts, so nothing half-written remains."""
        upload = self._call(self._client.create_multipart_upload, Bucket=self.bucket, Key=key,
                            ContentType=content_type, Metadata=metadata)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, offset in enumerate(range(0, len(data), _PART_SIZE), start=1):
                r = self._call(self._client.upload_part, Bucket=self.bucket, Key=key, UploadId=upload_id,
                               PartNumber=number, Body=io.BytesIO(data[offset:offset + _PART_SIZE]))
                parts.append({"PartNumber": number, "ETag": r["ETag"]})
            self._call(self._client.complete_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload_id,
                       MultipartUpload={"Parts": parts}, **extra)
        except BaseException:
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - storage may be down; the lifecycle rule cleans up
                pass
            raise

    def get(self, key: str) -> bytes:
        return self._read(Bucket=self.bucket, Key=key)

    def read_reference(self, uri: str) -> bytes:
        expected = f"s3://{self.bucket}/{self.reference_prefix}<key>"
        try:
            parsed = urlparse(uri)
            bucket, key = parsed.netloc, parsed.path.lstrip("/")
        except ValueError:
            raise invalid_reference(uri, expected) from None
        if parsed.scheme != "s3" or not bucket or not key or parsed.query or parsed.fragment:
            raise invalid_reference(uri, expected)
        if bucket != self.bucket or not key.startswith(self.reference_prefix) or "/../" in f"/{key}/":
            raise reference_forbidden(uri, f"keys under s3://{self.bucket}/{self.reference_prefix}")
        head = self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        size = int(head["ContentLength"])
        if size > self.max_reference_bytes:
            raise reference_too_large(uri, size, self.max_reference_bytes)
        # Ranged and capped: the object may have been replaced by a larger one since the HEAD.
        data = self._read(Bucket=self.bucket, Key=key, Range=f"bytes=0-{self.max_reference_bytes}",
                          limit=self.max_reference_bytes + 1)
        if len(data) > self.max_reference_bytes:
            raise reference_too_large(uri, len(data), self.max_reference_bytes)
        return data

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            r = self._call(self._client.list_objects_v2, Bucket=self.bucket, Prefix=prefix, **token)
            keys += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return keys
            token = {"ContinuationToken": r["NextContinuationToken"]}

    def delete(self, key: str) -> None:
        try:
            self._call(self._client.delete_object, Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            pass

    def presign(self, key: str, expires_seconds: int) -> str:
        return self._client.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
        )

    def close(self) -> None:
        self._client.close()
