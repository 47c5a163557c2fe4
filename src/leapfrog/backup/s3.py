"""Backup storage in an S3-compatible object store (AWS S3, MinIO, SeaweedFS, versitygw...).

Objects live under `s3://BUCKET/PREFIX/<key>`. A put is atomic by S3's own rule: an
object appears only when its upload is complete. Up to one part (16 MiB) it is one
PutObject, sent only after the whole body was read, so a writer that fails mid-stream
sends nothing; larger ones are a multipart upload, streamed part by part (16 MiB of
memory at most), completed at the end and aborted on any failure. What a killed writer
leaves is an unfinished multipart upload, invisible to `keys` and `get` and removed by
`abandon`.

Client: boto3 (AWS's SDK; it speaks every S3 dialect, signs requests, retries
throttling). Path-style addressing when an endpoint is given, since local servers
seldom resolve virtual-host bucket names; checksums only when the API requires them,
which every S3-compatible server accepts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from leapfrog.backup.storage import Storage, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["PART_SIZE", "S3Storage"]

PART_SIZE = 16 << 20
"""Bytes per multipart part (S3 wants 5 MiB to 5 GiB; 10,000 parts make 156 GiB)."""
_READ_CHUNK = 1 << 20
_PROBE = ".leapfrog-probe"


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "?")
        message = error.get("Message") or ""
        return f"{code}{': ' + message if message else ''}"
    return str(exc)


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        part_size: int = PART_SIZE,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint = endpoint
        self.part_size = max(part_size, 5 << 20)
        self.description = f"s3://{bucket}/{self.prefix}" + (f" at {endpoint}" if endpoint else "")
        config = Config(
            region_name=region,
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path" if endpoint else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    def _key(self, key: str) -> str:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"bad object key {key!r}")
        return self.prefix + key

    def _error(self, what: str, exc: Exception) -> StorageError:
        if isinstance(exc, EndpointConnectionError):
            return StorageError(
                f"cannot {what}: the S3 endpoint {self.endpoint or 'of AWS'} is not answering "
                f"({exc})",
                hint="check that the S3 server is running and `backups: s3: endpoint:` is right",
            )
        return StorageError(f"cannot {what} in {self.description}: {_why(exc)}")

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket"):
                raise StorageError(
                    f"backup storage {self.description}: the bucket {self.bucket} does not exist",
                    hint="create it, or fix `backups: storage:`",
                ) from exc
            if code in ("403", "AccessDenied"):
                raise StorageError(
                    f"backup storage {self.description}: access denied to bucket {self.bucket}",
                    hint="check the credentials named in `backups: s3:` (`leapfrog secrets`)",
                ) from exc
            raise self._error("use the bucket", exc) from exc
        except BotoCoreError as exc:
            raise self._error("reach the bucket", exc) from exc
        try:
            self._client.put_object(Bucket=self.bucket, Key=self.prefix + _PROBE, Body=b"ok")
            self._client.delete_object(Bucket=self.bucket, Key=self.prefix + _PROBE)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(
                f"backup storage {self.description} cannot be written: {_why(exc)}",
                hint="check the credentials' permissions and the bucket's quota",
            ) from exc

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        name = self._key(key)
        buffer = bytearray()
        size = 0
        upload: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                # A part goes out only when more bytes follow it: the last part is never empty.
                while len(buffer) > self.part_size:
                    if upload is None:
                        made = self._client.create_multipart_upload(Bucket=self.bucket, Key=name)
                        upload = made["UploadId"]
                    parts.append(self._part(name, upload, len(parts) + 1, buffer[: self.part_size]))
                    del buffer[: self.part_size]
            if upload is None:
                self._client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer))
            else:
                parts.append(self._part(name, upload, len(parts) + 1, buffer))
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
        except BaseException as exc:
            if upload is not None:
                self._abort(name, upload)
            if isinstance(exc, (BotoCoreError, ClientError)):
                raise self._error(f"write {key}", exc) from exc
            raise
        return size

    def _part(self, name: str, upload: str, number: int, data: bytearray) -> dict[str, Any]:
        sent = self._client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload, PartNumber=number, Body=bytes(data)
        )
        return {"PartNumber": number, "ETag": sent["ETag"]}

    def _abort(self, name: str, upload: str) -> None:
        # When this fails too, `abandon` removes it on the store's next run.
        with contextlib.suppress(BotoCoreError, ClientError):
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)

    def get(self, key: str) -> Iterator[bytes]:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise StorageError(f"{key} is not in {self.description}") from exc
            raise self._error(f"read {key}", exc) from exc
        except BotoCoreError as exc:
            raise self._error(f"read {key}", exc) from exc
        try:
            yield from body.iter_chunks(_READ_CHUNK)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"read {key}", exc) from exc
        finally:
            body.close()

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"list {prefix or 'the objects'}", exc) from exc
        return sorted(k for k in found if k != _PROBE)

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"delete {key}", exc) from exc

    def abandon(self, prefix: str) -> list[str]:
        removed: list[str] = []
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed.append(upload["Key"][len(self.prefix) :])
        except (BotoCoreError, ClientError) as exc:
            raise self._error("remove unfinished uploads", exc) from exc
        return removed
