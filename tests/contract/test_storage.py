"""S3 contract: the bucket is private and encrypted; channels land once per content version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services import aws
from services.data import storage
from services.settings import Settings


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def channel_files(tmp_path: Path) -> tuple[Path, Path]:
    train = _write(tmp_path / "prepared" / "train.csv", "PassengerId,Survived,Sex\n1,0,male\n2,1,female\n")
    validation = _write(tmp_path / "prepared" / "validation.csv", "PassengerId,Survived,Sex\n3,1,female\n")
    return train, validation


@pytest.mark.aws_verified
def test_ensure_bucket_creates_an_encrypted_private_bucket(settings: Settings) -> None:
    assert storage.ensure_bucket(settings) == settings.bucket
    s3 = aws.client(settings, "s3")
    rules = s3.get_bucket_encryption(Bucket=settings.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=settings.bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    # A second call finds the bucket and leaves it alone.
    assert storage.ensure_bucket(settings) == settings.bucket


@pytest.mark.aws_verified
def test_upload_channels_under_content_version(settings: Settings, channel_files: tuple[Path, Path]) -> None:
    train, validation = channel_files
    first = storage.upload_channels(settings, train, validation)
    assert first.uploaded
    prefix = f"s3://{settings.bucket}/{settings.prefix}/datasets/{first.version}"
    assert first.train_uri == f"{prefix}/train/"
    assert first.validation_uri == f"{prefix}/validation/"
    assert first.channels() == {"train": first.train_uri, "validation": first.validation_uri}
    keys = storage.list_keys(settings, prefix + "/")
    assert sorted(keys) == sorted(
        f"{settings.prefix}/datasets/{first.version}/{k}"
        for k in ("train/train.csv", "validation/validation.csv", "manifest.json")
    )
    s3 = aws.client(settings, "s3")
    manifest_key = f"{settings.prefix}/datasets/{first.version}/manifest.json"
    manifest = json.loads(s3.get_object(Bucket=settings.bucket, Key=manifest_key)["Body"].read())
    assert manifest["sha256"]["train"]["train.csv"] == first.sha256["train"]["train.csv"]

    again = storage.upload_channels(settings, train, validation)
    assert again.version == first.version
    assert not again.uploaded


@pytest.mark.aws_verified
def test_changed_content_is_a_new_version(settings: Settings, channel_files: tuple[Path, Path]) -> None:
    train, validation = channel_files
    first = storage.upload_channels(settings, train, validation)
    train.write_text(train.read_text() + "4,0,male\n")
    second = storage.upload_channels(settings, train, validation)
    assert second.version != first.version and second.uploaded
    listed = storage.list_dataset_versions(settings)
    assert {v.version for v in listed} == {first.version, second.version}
    chosen = next(v for v in listed if v.version == second.version)
    assert chosen.channels["train"] == second.train_uri


def test_no_versions_in_a_missing_bucket(settings: Settings) -> None:
    assert storage.list_dataset_versions(settings) == []


def test_missing_or_empty_channel_file_is_one_clear_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(storage.StorageError, match="train channel file not found"):
        storage.upload_channels(settings, tmp_path / "nope.csv")
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(storage.StorageError, match="train channel file is empty"):
        storage.upload_channels(settings, empty)


@pytest.mark.aws_verified
def test_download_missing_object_names_the_uri(settings: Settings, tmp_path: Path) -> None:
    storage.ensure_bucket(settings)
    uri = f"s3://{settings.bucket}/nothing/model.tar.gz"
    with pytest.raises(storage.StorageError, match=f"object not found: {uri}"):
        storage.download_file(settings, uri, tmp_path / "x")


def test_a_version_damaged_earlier_is_uploaded_again(
    settings: Settings, channel_files: tuple[Path, Path]
) -> None:
    """A manifest whose sha256 is not the content's (as concurrent runs once left) is not trusted."""
    import hashlib

    train, validation = channel_files
    first = storage.upload_channels(settings, train, validation)
    s3 = aws.client(settings, "s3")
    _, manifest_key = storage.parse_s3_uri(first.manifest_uri)
    _, train_prefix = storage.parse_s3_uri(first.train_uri)
    damaged = json.loads(s3.get_object(Bucket=settings.bucket, Key=manifest_key)["Body"].read())
    damaged["sha256"]["train"]["train.csv"] = "0" * 64
    s3.put_object(Bucket=settings.bucket, Key=manifest_key, Body=json.dumps(damaged).encode())
    s3.put_object(Bucket=settings.bucket, Key=train_prefix + "train.csv", Body=b"truncated")

    repaired = storage.upload_channels(settings, train, validation)
    assert repaired.uploaded and repaired.version == first.version
    body = s3.get_object(Bucket=settings.bucket, Key=train_prefix + "train.csv")["Body"].read()
    manifest = json.loads(s3.get_object(Bucket=settings.bucket, Key=manifest_key)["Body"].read())
    assert body == train.read_bytes()
    assert manifest["sha256"]["train"]["train.csv"] == hashlib.sha256(body).hexdigest()
