"""`titanic-sm run` end to end on the local stack: our image, pulled from the registry by digest,
trained by the local training control plane (through the SageMaker API, as on a real account) on
channels in moto's S3, logs in moto's CloudWatch Logs."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from services import aws, dataset, logs
from services.images import ImageRef
from services.jobs import JobStore
from services.settings import Settings

# The `cli` fixture (tests/e2e/conftest.py): `python -m services ARGS` with the settings' environment.
Cli = Callable[..., subprocess.CompletedProcess[str]]


def _containers_of(job_name: str) -> list[str]:
    """Every container, running or exited, whose environment names this training job."""
    ids = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return []
    envs = subprocess.run(
        ["docker", "inspect", "--format", "{{.Id}} {{json .Config.Env}}", *ids],
        capture_output=True,
        text=True,
        check=False,  # a container removed between the two calls is not ours to report
    ).stdout
    return [line.split()[0] for line in envs.splitlines() if f"TRAINING_JOB_NAME={job_name}" in line]


def _summary(stdout: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("image", "job", "artifact", "local path", "bucket", "region", "repository"):
            fields[key] = value.strip()
    return fields


def test_run_trains_our_pushed_image_and_records_everything(
    cli: Cli, e2e_settings: Settings, training_image: ImageRef
) -> None:
    result = cli(e2e_settings, "run", "--hp", "num_leaves=7")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(result.stdout)
    for stage in ("data", "upload", "image", "fit", "verify", "download"):
        assert f"] {stage}: done in" in result.stderr

    # The image: ours, pinned by digest, in the local registry.
    assert summary["image"] == training_image.uri_with_digest
    job_name = summary["job"].split()[0]

    # The job store.
    job = JobStore(e2e_settings.job_store_path).get(job_name)
    assert job.status == "Completed" and job.target == "local"
    assert job.image_uri == training_image.uri_with_digest
    assert [t.secondary_status for t in job.transitions][-1] == "Completed"
    assert job.hyperparameters == {"num_leaves": "7"}
    # The control plane removes each job's container when the job ends.
    assert _containers_of(job_name) == []

    # The artifact in S3 holds both files, and the non-default hyperparameter was effective.
    assert summary["artifact"] == job.artifact_uri
    bucket, key = job.artifact_uri[5:].split("/", 1)
    body = aws.client(e2e_settings, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        names = set(archive.getnames())
        assert {"model.joblib", "metrics.json"} <= names
        metrics = json.loads(archive.extractfile("metrics.json").read())  # type: ignore[union-attr]
    assert metrics["hyperparameters"]["num_leaves"] == 7

    # Honest metrics (facts.md: CV accuracy ~0.80, AUC ~0.85-0.87; above 0.90 would mean leakage).
    assert 0.74 <= metrics["cv"]["accuracy"]["mean"] <= 0.88
    assert 0.80 <= metrics["cv"]["roc_auc"]["mean"] <= 0.92
    assert 0.70 <= metrics["validation"]["accuracy"] <= 0.92
    assert job.validation_accuracy == metrics["validation"]["accuracy"]
    assert job.cv_auc == metrics["cv"]["roc_auc"]["mean"]

    # Downloaded and unpacked, with run.json.
    local = Path(summary["local path"])
    assert (local / "model" / "model.joblib").is_file()
    run = json.loads((local / "run.json").read_text())
    assert run["artifact_uri"] == job.artifact_uri and run["image"] == training_image.uri_with_digest
    assert run["cost"]["actual_usd"] == job.actual_cost and job.actual_cost is not None

    # The log lines, through the Logs API, under SageMaker's names.
    page = logs.read_events(e2e_settings, job_name)
    assert page.stream is not None and page.stream.startswith(f"{job_name}/algo-1-")
    lines = [event.message for event in page.events]
    assert any(line.startswith("validation:accuracy=") for line in lines), lines[-20:]
    # The training job named the pushed image by digest, and the control plane ran that reference.
    assert job.training_job["AlgorithmSpecification"]["TrainingImage"] == training_image.uri_with_digest
    pulled = subprocess.run(
        ["docker", "image", "inspect", training_image.uri_with_digest], capture_output=True
    )
    assert pulled.returncode == 0, pulled.stderr


def test_a_failing_job_exits_non_zero_with_the_containers_reason(
    cli: Cli, e2e_settings: Settings, training_image: ImageRef, tmp_path: Path
) -> None:
    frame = dataset.load_source()
    prepared = tmp_path / "no-sex"
    prepared.mkdir()
    frame.drop(columns=["Sex"]).to_csv(prepared / "train.csv", index=False)
    assert "Sex" not in pd.read_csv(prepared / "train.csv").columns

    result = cli(e2e_settings, "run", "--channels-dir", str(prepared))
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr[-3000:]
    assert error_lines[0].startswith("error: fit: job titanic-")
    assert "Sex" in error_lines[0]
    assert "Traceback" not in result.stderr.split("error:")[-1]

    job_name = error_lines[0].split("job ", 1)[1].split()[0]
    job = JobStore(e2e_settings.job_store_path).get(job_name)
    assert job.status == "Failed"
    assert job.failure_reason is not None and "Sex" in job.failure_reason
    assert job.failure_reason in error_lines[0]


@pytest.mark.parametrize("bad", ["num_leaves=1", "colour=red"])
def test_a_bad_hyperparameter_is_one_line_before_any_job(cli: Cli, e2e_settings: Settings, bad: str) -> None:
    before = len(JobStore(e2e_settings.job_store_path).list())
    result = cli(e2e_settings, "run", "--hp", bad)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: request: ")
    assert bad.split("=")[0] in result.stderr.strip().splitlines()[-1]
    assert len(JobStore(e2e_settings.job_store_path).list()) == before


def test_an_override_is_recorded_and_the_accounts_quota_still_refuses_the_type(
    cli: Cli, e2e_settings: Settings, training_image: ImageRef
) -> None:
    """The override passes our own instance check, as asked; the account (here the control plane's
    sample quotas, ml.t3.medium at 0) still refuses the job with ResourceLimitExceeded, as a new
    AWS account would: one line, and the job is recorded with the override and the hyperparameters."""
    reason = "quota increase for ml.t3.medium approved, case 1234"
    args = ["run", "--instance-type", "ml.t3.medium", "--override-reason", reason, "--hp", "cv_folds=2"]
    result = cli(e2e_settings, *args, env={"TITANIC_SM_HYPERPARAMETERS": "num_leaves=5,cv_folds=0"})
    assert result.returncode == 1, result.stderr[-3000:]
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: fit: SageMaker refused the job: ResourceLimitExceeded: ")
    assert "'ml.t3.medium for training job usage' is 0 Instances" in error
    [job] = [j for j in JobStore(e2e_settings.job_store_path).list() if j.instance_reason == reason]
    assert job.status == "Failed" and "ResourceLimitExceeded" in (job.failure_reason or "")
    assert job.instance_type == "ml.t3.medium"
    # --hp wins over TITANIC_SM_HYPERPARAMETERS key by key.
    assert job.hyperparameters == {"num_leaves": "5", "cv_folds": "2"}
