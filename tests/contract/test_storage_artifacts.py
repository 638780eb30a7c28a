"""model.tar.gz in S3 (moto): verified, unpacked safely into runs/<job>/, run.json written."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from container.hyperparameters import parse
from services import artifacts, aws, storage
from services.settings import Settings


def _tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def _metrics(hyperparameters: dict[str, object]) -> bytes:
    return json.dumps(
        {"schema_version": 1, "hyperparameters": hyperparameters, "validation": {"accuracy": 0.8}}
    ).encode()


def _put(settings: Settings, key: str, data: bytes) -> str:
    storage.ensure_bucket(settings)
    aws.client(settings, "s3").put_object(Bucket=settings.bucket, Key=key, Body=data)
    return f"s3://{settings.bucket}/{key}"


def test_download_verifies_and_unpacks(settings: Settings) -> None:
    sent = {"num_leaves": "7"}
    data = _tar({"model.joblib": b"model-bytes", "metrics.json": _metrics(parse(sent))})
    uri = _put(settings, "titanic/jobs/job-1/output/model.tar.gz", data)
    run = artifacts.download_run(settings, "job-1", uri, sent, summary={"region": "us-east-1"})
    assert run.local_path == settings.runs_dir / "job-1"
    assert (run.local_path / "model" / "model.joblib").read_bytes() == b"model-bytes"
    assert run.archive.read_bytes() == data
    manifest = json.loads(run.run_manifest.read_text())
    assert manifest["artifact_uri"] == uri and manifest["region"] == "us-east-1"
    assert manifest["metrics"]["hyperparameters"]["num_leaves"] == 7
    metrics, raw = artifacts.read_artifact(settings, uri)
    assert raw == data and metrics["validation"]["accuracy"] == 0.8


def test_effective_hyperparameters_must_equal_what_was_sent(settings: Settings) -> None:
    effective = parse({"num_leaves": "31"})
    uri = _put(
        settings, "jobs/j2/model.tar.gz", _tar({"model.joblib": b"m", "metrics.json": _metrics(effective)})
    )
    with pytest.raises(artifacts.ArtifactError, match="num_leaves: sent 7, effective 31"):
        artifacts.download_run(settings, "j2", uri, {"num_leaves": "7"})
    assert not (settings.runs_dir / "j2").exists()


def test_an_archive_without_the_model_is_refused(settings: Settings) -> None:
    uri = _put(settings, "jobs/j3/model.tar.gz", _tar({"metrics.json": _metrics({})}))
    with pytest.raises(artifacts.ArtifactError, match=r"lacks model\.joblib"):
        artifacts.read_artifact(settings, uri)


def test_a_missing_artifact_names_the_uri(settings: Settings) -> None:
    storage.ensure_bucket(settings)
    uri = f"s3://{settings.bucket}/jobs/none/model.tar.gz"
    with pytest.raises(artifacts.ArtifactError, match=f"artifact missing: {uri}"):
        artifacts.read_artifact(settings, uri)


@pytest.mark.parametrize(
    ("files", "links", "message"),
    [
        ({"../escape.txt": b"x"}, None, "unsafe path"),
        ({"/etc/evil": b"x"}, None, "unsafe path"),
        ({"model.joblib": b"m"}, {"link": "/etc/passwd"}, "link or device"),
    ],
)
def test_unsafe_archives_are_refused(
    tmp_path: Path, files: dict[str, bytes], links: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(artifacts.ArtifactError, match=message):
        artifacts.unpack_safely(_tar(files, links), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_the_verified_model_hash_is_recorded_only_from_the_jobs_own_output_path(
    settings: Settings, tmp_path: Path
) -> None:
    from services.jobs import JobStore

    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.create(target="local", job_name="job-own")
    data = _tar({"model.joblib": b"the-model", "metrics.json": _metrics({})})
    own = _put(settings, "titanic/jobs/job-own/output/model.tar.gz", data)
    assert own == artifacts.job_artifact_uri(settings, "job-own")

    elsewhere = _put(settings, "titanic/jobs/other-job/output/model.tar.gz", data)
    with pytest.raises(artifacts.ArtifactError, match=r"is not at the job's own output path .*job-own"):
        artifacts.record_trusted_model(settings, store, job, elsewhere, data)
    assert store.get(job.id).model_sha256 is None

    digest = artifacts.record_trusted_model(settings, store, job, own, data)
    assert digest == hashlib.sha256(b"the-model").hexdigest()
    found = store.find_by_model_sha256(digest)
    assert found is not None and found.job_name == "job-own"


def test_a_doubled_member_is_refused_before_anything_is_unpacked(settings: Settings) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in (
            ("model.joblib", b"first"),
            ("metrics.json", _metrics({})),
            ("./model.joblib", b"2"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    uri = _put(settings, "titanic/jobs/j-dup/output/model.tar.gz", buffer.getvalue())
    with pytest.raises(artifacts.ArtifactError, match=r"holds 'model\.joblib' twice; refusing an ambiguous"):
        artifacts.download_run(settings, "j-dup", uri, None)
    with pytest.raises(artifacts.ArtifactError, match="twice"):
        artifacts.model_sha256(buffer.getvalue())
    assert not (settings.runs_dir / "j-dup").exists()


def test_runs_folder_is_replaced_whole_and_leaves_no_staging_behind(settings: Settings) -> None:
    first = _tar({"model.joblib": b"one", "metrics.json": _metrics({}), "extra.txt": b"old"})
    second = _tar({"model.joblib": b"two", "metrics.json": _metrics({})})
    for data in (first, second):
        run = artifacts.save_run(settings, "job-r", "s3://b/k", data, {"n": 1}, None)
    assert (run.local_path / "model" / "model.joblib").read_bytes() == b"two"
    assert not (run.local_path / "model" / "extra.txt").exists()  # nothing of the first run mixed in
    assert run.local_path.stat().st_mode & 0o777 == 0o755  # not the staging folder's private 0700
    assert sorted(p.name for p in settings.runs_dir.iterdir()) == ["job-r"]
    with pytest.raises(artifacts.ArtifactError):
        artifacts.save_run(settings, "job-bad", "s3://b/k", b"not a tarball", {}, None)
    assert sorted(p.name for p in settings.runs_dir.iterdir()) == ["job-r"]
