"""S3: the bucket, the training channels under a dataset-version prefix, and downloads.

Layout in the bucket::

    s3://<bucket>/<prefix>/datasets/<version>/train/<file>.csv
    s3://<bucket>/<prefix>/datasets/<version>/validation/<file>.csv
    s3://<bucket>/<prefix>/datasets/<version>/manifest.json

``<version>`` is derived from the content hash of the channel files, so the same data always
lands under the same prefix and is uploaded once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from container.contract import TRAIN_CHANNEL, VALIDATION_CHANNEL
from services import aws
from services.errors import InfrastructureError
from services.settings import Settings

__all__ = [
    "DatasetChannels",
    "DatasetVersion",
    "StorageError",
    "content_version",
    "download_file",
    "ensure_bucket",
    "list_dataset_versions",
    "list_keys",
    "object_exists",
    "parse_s3_uri",
    "sha256_file",
    "upload_channels",
]

DATASETS = "datasets"
MANIFEST = "manifest.json"
VERSION_LENGTH = 16


class StorageError(InfrastructureError, RuntimeError):
    """An S3 step failed; the message names the bucket or object."""


@dataclass(frozen=True)
class DatasetChannels:
    """Where one dataset version lives in S3."""

    version: str
    train_uri: str
    validation_uri: str | None
    manifest_uri: str
    sha256: Mapping[str, Mapping[str, str]]
    uploaded: bool  # False when the version was already in S3

    def channels(self) -> dict[str, str]:
        """The ``fit()`` inputs: channel name -> S3 prefix."""
        result = {TRAIN_CHANNEL: self.train_uri}
        if self.validation_uri:
            result[VALIDATION_CHANNEL] = self.validation_uri
        return result


@dataclass(frozen=True)
class DatasetVersion:
    """A version already in S3, as listed for the dashboard."""

    version: str
    prefix_uri: str
    created: datetime | None
    channels: dict[str, str] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise StorageError(f"not an S3 URI: {uri!r}", code="storage.not_s3_uri", values={"uri": uri})
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_version(files: Mapping[str, Path]) -> str:
    """A short hash of the channel names, file names and contents: the dataset version."""
    return _version_of(
        {channel: (Path(path).name, sha256_file(Path(path))) for channel, path in files.items()}
    )


def _version_of(hashes: Mapping[str, tuple[str, str]]) -> str:
    """``content_version`` from (file name, sha256) per channel."""
    digest = hashlib.sha256()
    for channel in sorted(hashes):
        name, sha = hashes[channel]
        digest.update(f"{channel}/{name}:{sha}\n".encode())
    return digest.hexdigest()[:VERSION_LENGTH]


def ensure_bucket(settings: Settings) -> str:
    """Create the bucket when missing, with default encryption and public access blocked."""
    s3 = aws.client(settings, "s3")
    try:
        s3.head_bucket(Bucket=settings.bucket)
        return settings.bucket
    except BotoCoreError as exc:  # no endpoint, no credentials: the first S3 call says so
        raise StorageError(
            f"S3 is unreachable: {exc}", code="storage.unreachable", values={"cause": str(exc)}
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise StorageError(
                f"bucket {settings.bucket} is not reachable: {code or exc}",
                code="storage.bucket_unreachable",
                values={"bucket": settings.bucket, "cause": str(code or exc)},
            ) from exc
    create: dict[str, Any] = {"Bucket": settings.bucket}
    # us-east-1 rejects an explicit LocationConstraint.
    if settings.region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    try:
        s3.create_bucket(**create)
    except ClientError as exc:
        raise StorageError(
            f"cannot create bucket {settings.bucket}: {exc}",
            code="storage.cannot_create_bucket",
            values={"bucket": settings.bucket, "cause": str(exc)},
        ) from exc
    s3.put_bucket_encryption(
        Bucket=settings.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=settings.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return settings.bucket


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def upload_channels(
    settings: Settings,
    train_file: Path,
    validation_file: Path | None = None,
    extra_manifest: Mapping[str, Any] | None = None,
) -> DatasetChannels:
    """Upload the channel files under their content version; skip when that version exists.

    Each file is read once: its version, its manifest sha256 and the uploaded object are the same
    bytes, whatever happens to the file meanwhile (S3 checks the object against that sha256).
    The manifest is written last, so its presence means the whole version is in S3; a manifest
    whose hashes differ from these bytes (a version damaged earlier) is uploaded again.
    """
    files: dict[str, Path] = {TRAIN_CHANNEL: Path(train_file)}
    if validation_file is not None:
        files[VALIDATION_CHANNEL] = Path(validation_file)
    contents: dict[str, bytes] = {}
    for channel, path in files.items():
        try:
            contents[channel] = path.read_bytes()
        except FileNotFoundError:
            raise StorageError(
                f"{channel} channel file not found: {path}",
                code="storage.channel_file_missing",
                values={"channel": channel, "path": str(path)},
            ) from None
        except OSError as exc:
            raise StorageError(
                f"{channel} channel file cannot be read: {path}: {exc.strerror or exc}",
                code="storage.channel_file_unreadable",
                values={"channel": channel, "path": str(path), "cause": str(exc.strerror or exc)},
            ) from None
        if not contents[channel]:
            raise StorageError(
                f"{channel} channel file is empty: {path}",
                code="storage.channel_file_empty",
                values={"channel": channel, "path": str(path)},
            )
    hashes = {
        channel: (files[channel].name, hashlib.sha256(contents[channel]).hexdigest()) for channel in files
    }
    version = _version_of(hashes)
    base = f"{settings.prefix.strip('/')}/{DATASETS}/{version}"
    manifest_key = f"{base}/{MANIFEST}"
    sha = {channel: {name: digest} for channel, (name, digest) in hashes.items()}

    ensure_bucket(settings)
    s3 = aws.client(settings, "s3")
    uploaded = False
    if _manifest_sha256(s3, settings.bucket, manifest_key) != sha:
        for channel, path in files.items():
            s3.put_object(
                Bucket=settings.bucket,
                Key=f"{base}/{channel}/{path.name}",
                Body=contents[channel],
                ContentType="text/csv",
                ChecksumSHA256=base64.b64encode(bytes.fromhex(hashes[channel][1])).decode(),
            )
        manifest = {
            "version": version,
            "channels": {c: f"s3://{settings.bucket}/{base}/{c}/" for c in files},
            "sha256": sha,
            **dict(extra_manifest or {}),
        }
        s3.put_object(
            Bucket=settings.bucket,
            Key=manifest_key,
            Body=json.dumps(manifest, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )
        uploaded = True
    root = f"s3://{settings.bucket}/{base}"
    return DatasetChannels(
        version=version,
        train_uri=f"{root}/train/",
        validation_uri=f"{root}/{VALIDATION_CHANNEL}/" if VALIDATION_CHANNEL in files else None,
        manifest_uri=f"{root}/{MANIFEST}",
        sha256=sha,
        uploaded=uploaded,
    )


def _manifest_sha256(s3: Any, bucket: str, key: str) -> Any:
    """The ``sha256`` map of the manifest at ``key``; None when there is none (or it is unreadable)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    try:
        return json.loads(body).get("sha256")
    except (ValueError, AttributeError):
        return None


def list_dataset_versions(settings: Settings) -> list[DatasetVersion]:
    """The dataset versions in the bucket, newest first (an absent bucket has none)."""
    s3 = aws.client(settings, "s3")
    base = f"{settings.prefix.strip('/')}/{DATASETS}/"
    versions: list[DatasetVersion] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=base)
        objects = [obj for page in pages for obj in page.get("Contents", [])]
        manifests = [obj for obj in objects if obj["Key"].endswith(MANIFEST)]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return []
        raise StorageError(
            f"cannot list s3://{settings.bucket}/{base}: {exc}",
            code="storage.cannot_list",
            values={"bucket": settings.bucket, "prefix": base, "cause": str(exc)},
        ) from exc
    for obj in manifests:
        version = obj["Key"][len(base) :].split("/", 1)[0]
        body = s3.get_object(Bucket=settings.bucket, Key=obj["Key"])["Body"].read()
        try:
            manifest = json.loads(body)
        except ValueError:
            manifest = {}
        versions.append(
            DatasetVersion(
                version=version,
                prefix_uri=f"s3://{settings.bucket}/{base}{version}/",
                created=obj.get("LastModified"),
                channels=dict(manifest.get("channels", {})),
                manifest=manifest,
            )
        )
    versions.sort(key=lambda v: v.created.timestamp() if v.created else 0.0, reverse=True)
    return versions


def download_file(settings: Settings, uri: str, destination: Path) -> Path:
    """Download one object; a missing object is a StorageError naming the URI."""
    bucket, key = parse_s3_uri(uri)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        aws.client(settings, "s3").download_file(bucket, key, str(destination))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NotFound"):
            raise StorageError(
                f"object not found: {uri}", code="storage.no_object", values={"uri": uri}
            ) from exc
        raise StorageError(
            f"cannot download {uri}: {code or exc}",
            code="storage.cannot_download",
            values={"uri": uri, "cause": str(code or exc)},
        ) from exc
    return destination


def object_exists(settings: Settings, uri: str) -> bool:
    bucket, key = parse_s3_uri(uri)
    return _exists(aws.client(settings, "s3"), bucket, key)


def list_keys(settings: Settings, uri: str) -> list[str]:
    """Every key under an S3 prefix."""
    bucket, prefix = parse_s3_uri(uri)
    pages = aws.client(settings, "s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]
