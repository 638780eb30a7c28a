"""What a job produced: ``model.tar.gz`` verified, unpacked safely into ``runs/<job>/``, and ``run.json``.

Verification is the proof the job did what was asked: the archive holds ``model.joblib`` and
``metrics.json`` once each, and the effective hyperparameters in ``metrics.json`` equal what was
sent (after the container's own typed parsing). ``record_trusted_model`` then files the sha256 of
that ``model.joblib`` in the job store: the only trust ``titanic-sm predict`` accepts without
``--trust``, because it comes from outside the archive (a hash inside it proves nothing).

``runs/<job>/`` appears whole or not at all: it is written in a hidden sibling folder, then renamed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from container.contract import METRICS_FILE, MODEL_FILE
from container.hyperparameters import HyperparameterError, parse
from services.data import storage
from services.errors import InfrastructureError
from services.settings import Settings

if TYPE_CHECKING:
    from services.jobs.store import Job, JobStore

__all__ = [
    "ArtifactError",
    "DownloadedRun",
    "download_run",
    "fetch_verified",
    "headline_scores",
    "job_artifact_uri",
    "model_sha256",
    "read_artifact",
    "record_trusted_model",
    "save_run",
    "unpack_safely",
    "verify_archive",
]

RUN_MANIFEST = "run.json"
MODEL_ARCHIVE = "model.tar.gz"
FAILURE_MEMBER = "failure"


class ArtifactError(InfrastructureError, RuntimeError):
    """The artifact is missing, incomplete, unsafe, or does not match the request."""


@dataclass(frozen=True)
class DownloadedRun:
    local_path: Path
    archive: Path
    metrics: dict[str, Any]
    run_manifest: Path


def _members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Members by normalised path (``./model.joblib`` is ``model.joblib``). Two members with one
    path are refused: which one a reader gets would differ between the check and the use."""
    members: dict[str, tarfile.TarInfo] = {}
    for member in archive.getmembers():
        parts = [part for part in PurePosixPath(member.name).parts if part != "."]
        name = "/".join(parts) or "."
        if name in members and name != ".":
            raise ArtifactError(
                f"{MODEL_ARCHIVE} holds {name!r} twice; refusing an ambiguous archive",
                code="artifact.member_twice",
                values={"member": name},
            )
        members[name] = member
    return members


def model_sha256(data: bytes) -> str:
    """The sha256 of the one ``model.joblib`` in a ``model.tar.gz`` (refused when absent or doubled)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = _members(archive).get(MODEL_FILE)
        handle = archive.extractfile(member) if member is not None else None
        if handle is None:
            raise ArtifactError(f"{MODEL_ARCHIVE} has no regular {MODEL_FILE}", code="artifact.no_model_file")
        with handle:
            return hashlib.sha256(handle.read()).hexdigest()


def verify_archive(data: bytes, sent_hyperparameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check the archive and return its ``metrics.json``.

    With ``sent_hyperparameters`` (what the Estimator sent), the effective values in
    ``metrics.json`` must equal ``container.hyperparameters.parse(sent)``.
    """
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 -- closed by the with below; opening is what may fail
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArtifactError(
            f"{MODEL_ARCHIVE} is not a gzip tar archive: {exc}",
            code="artifact.not_tar",
            values={"cause": str(exc)},
        ) from exc
    with archive:
        members = _members(archive)
        missing = [name for name in (MODEL_FILE, METRICS_FILE) if name not in members]
        if missing:
            raise ArtifactError(
                f"{MODEL_ARCHIVE} lacks {' and '.join(missing)} (has: {', '.join(sorted(members))})",
                code="artifact.lacks",
                values={"missing": " and ".join(missing), "members": ", ".join(sorted(members))},
            )
        handle = archive.extractfile(members[METRICS_FILE])
        if handle is None:
            raise ArtifactError(
                f"{METRICS_FILE} in {MODEL_ARCHIVE} is not a regular file", code="artifact.metrics_not_file"
            )
        try:
            metrics: dict[str, Any] = json.loads(handle.read())
        except ValueError as exc:
            raise ArtifactError(
                f"{METRICS_FILE} is not JSON: {exc}",
                code="artifact.metrics_not_json",
                values={"cause": str(exc)},
            ) from exc
    if sent_hyperparameters is not None:
        try:
            expected = parse(sent_hyperparameters)
        except HyperparameterError as exc:
            raise ArtifactError(
                f"the sent hyperparameters do not parse: {exc}",
                code="artifact.sent_hyperparameters",
                values={"cause": str(exc)},
            ) from exc
        effective = metrics.get("hyperparameters") or {}
        differing = sorted(k for k in expected if effective.get(k) != expected[k])
        if differing:
            detail = ", ".join(
                f"{k}: sent {expected[k]!r}, effective {effective.get(k)!r}" for k in differing
            )
            raise ArtifactError(
                f"effective hyperparameters differ from what was sent ({detail})",
                code="artifact.hyperparameters_differ",
                values={"detail": detail},
            )
    return metrics


def unpack_safely(data: bytes, destination: Path) -> list[Path]:
    """Extract regular files and folders only, never outside ``destination`` (no links, devices,
    absolute paths or ``..``)."""
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    written: list[Path] = []
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 -- closed by the with below; opening is what may fail
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArtifactError(
            f"{MODEL_ARCHIVE} is not a gzip tar archive: {exc}",
            code="artifact.not_tar",
            values={"cause": str(exc)},
        ) from exc
    with archive:
        for member in _members(archive).values():
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise ArtifactError(
                    f"unsafe path in {MODEL_ARCHIVE}: {member.name!r}",
                    code="artifact.unsafe_path",
                    values={"member": member.name},
                )
            if not (member.isfile() or member.isdir()):
                raise ArtifactError(
                    f"{MODEL_ARCHIVE} holds a link or device, refused: {member.name!r}",
                    code="artifact.link_or_device",
                    values={"member": member.name},
                )
            target = (root / name).resolve()
            if target != root and root not in target.parents:
                raise ArtifactError(
                    f"unsafe path in {MODEL_ARCHIVE}: {member.name!r}",
                    code="artifact.unsafe_path",
                    values={"member": member.name},
                )
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None  # a regular file always has content
            target.write_bytes(source.read())
            written.append(target)
    return written


def _fetch(settings: Settings, artifact_uri: str) -> bytes:
    try:
        bucket, key = storage.parse_s3_uri(artifact_uri)
    except storage.StorageError as exc:
        raise ArtifactError(str(exc), code=exc.code, values=exc.values) from exc
    from botocore.exceptions import ClientError

    from services import aws

    try:
        body = aws.client(settings, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
            raise ArtifactError(
                f"artifact missing: {artifact_uri}", code="artifact.missing", values={"uri": artifact_uri}
            ) from exc
        raise ArtifactError(
            f"cannot read {artifact_uri}: {code or exc}",
            code="artifact.unreadable",
            values={"uri": artifact_uri, "cause": str(code or exc)},
        ) from exc
    return bytes(body)


def read_artifact(settings: Settings, artifact_uri: str) -> tuple[dict[str, Any], bytes]:
    """``metrics.json`` and the bytes of ``model.tar.gz`` (for the dashboard's charts and downloads)."""
    data = _fetch(settings, artifact_uri)
    return verify_archive(data), data


def fetch_verified(
    settings: Settings, artifact_uri: str, sent_hyperparameters: Mapping[str, Any] | None
) -> tuple[dict[str, Any], bytes]:
    """The verify stage: read ``model.tar.gz`` from S3 and check it; returns (metrics, bytes)."""
    data = _fetch(settings, artifact_uri)
    return verify_archive(data, sent_hyperparameters), data


def job_artifact_uri(settings: Settings, job_name: str) -> str:
    """Where SageMaker (and local mode) writes a job's ``model.tar.gz``: its own output path."""
    from services.training import estimator as training

    return f"{training.output_path(settings)}/{job_name}/output/{MODEL_ARCHIVE}"


def record_trusted_model(
    settings: Settings, store: JobStore, job: Job, artifact_uri: str, data: bytes
) -> str:
    """File the sha256 of the verified artifact's ``model.joblib`` with its job; returns it.

    Only an artifact read from the job's own output path is recorded: anything else is not
    known to be what this job trained, so the verify stage fails instead of trusting it.
    """
    expected = job_artifact_uri(settings, job.job_name)
    if artifact_uri != expected:
        raise ArtifactError(
            f"the artifact {artifact_uri} is not at the job's own output path {expected}; not trusting it",
            code="artifact.elsewhere",
            values={"uri": artifact_uri, "expected": expected},
        )
    digest = model_sha256(data)
    store.update(job.id, model_sha256=digest)
    return digest


def save_run(
    settings: Settings,
    job_name: str,
    artifact_uri: str,
    data: bytes,
    metrics: Mapping[str, Any],
    sent_hyperparameters: Mapping[str, Any] | None,
    summary: Mapping[str, Any] | None = None,
) -> DownloadedRun:
    """The download stage: keep the archive, unpack it safely into ``runs/<job>/``, write ``run.json``.

    Everything is written into a hidden folder beside ``runs/<job>/`` and renamed into place, so
    a reader (or a crash) never sees half a run; an earlier ``runs/<job>/`` is replaced whole.
    """
    run_dir = settings.runs_dir / job_name
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{job_name}.", suffix=".partial", dir=settings.runs_dir))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would make runs/<job>/ private once renamed
        _write_run(staging, run_dir, job_name, artifact_uri, data, metrics, sent_hyperparameters, summary)
        _replace_folder(staging, run_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return DownloadedRun(
        local_path=run_dir,
        archive=run_dir / MODEL_ARCHIVE,
        metrics=dict(metrics),
        run_manifest=run_dir / RUN_MANIFEST,
    )


def _replace_folder(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved aside first, then removed."""
    try:
        os.rename(staging, target)
        return
    except OSError:
        if not target.exists():
            raise
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rename(target, retired / target.name)
    os.rename(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def _write_run(
    folder: Path,
    run_dir: Path,
    job_name: str,
    artifact_uri: str,
    data: bytes,
    metrics: Mapping[str, Any],
    sent_hyperparameters: Mapping[str, Any] | None,
    summary: Mapping[str, Any] | None,
) -> None:
    (folder / MODEL_ARCHIVE).write_bytes(data)
    unpack_safely(data, folder / "model")
    manifest = folder / RUN_MANIFEST
    document = {
        "job_name": job_name,
        "artifact_uri": artifact_uri,
        "local_path": str(run_dir),
        "hyperparameters_sent": dict(sent_hyperparameters or {}),
        "metrics": metrics,
        **dict(summary or {}),
    }
    manifest.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def download_run(
    settings: Settings,
    job_name: str,
    artifact_uri: str,
    sent_hyperparameters: Mapping[str, Any] | None,
    summary: Mapping[str, Any] | None = None,
) -> DownloadedRun:
    """Download, verify and unpack the artifact into ``runs/<job>/``; write ``run.json``."""
    metrics, data = fetch_verified(settings, artifact_uri, sent_hyperparameters)
    return save_run(settings, job_name, artifact_uri, data, metrics, sent_hyperparameters, summary)


def headline_scores(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """The scores the job store keeps beside a job (its list, compare and sort columns), from
    metrics.json: the validation channel's, and the CV means; None where the run has none."""
    validation = metrics.get("validation") or {}
    cv = metrics.get("cv") or {}

    def score(value: Any) -> float | None:
        return float(value) if isinstance(value, int | float) else None

    return {
        "validation_accuracy": score(validation.get("accuracy")),
        "validation_auc": score(validation.get("roc_auc")),
        "cv_accuracy": score((cv.get("accuracy") or {}).get("mean")),
        "cv_auc": score((cv.get("roc_auc") or {}).get("mean")),
    }
