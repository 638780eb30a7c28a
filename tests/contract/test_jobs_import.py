"""`titanic-sm jobs import JOB_NAME`: a job from DescribeTrainingJob (moto's, and a Stubber response
of SageMaker's real shape), what it cannot know marked unknown, and its submission."""

from __future__ import annotations

import datetime as dt
import io
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from services import aws, submission
from services.cli import app
from services.data import storage
from services.jobs.store import JobStore
from services.messages import text
from services.settings import Settings
from services.submission.importer import ALWAYS_UNKNOWN, ImportJobError, import_job

ACCOUNT = "210987654321"
IMAGE = f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/acme/titanic@sha256:" + "c" * 64
ROLE = f"arn:aws:iam::{ACCOUNT}:role/titanic-sm-execution"
START = dt.datetime(2026, 11, 30, 9, 0, 0, tzinfo=dt.UTC)


def described(name: str, artifact: str) -> dict[str, Any]:
    """A DescribeTrainingJob response as SageMaker returns one for a completed spot job."""

    def at(seconds: int) -> dt.datetime:
        return START + dt.timedelta(seconds=seconds)

    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:eu-central-1:{ACCOUNT}:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": artifact},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "HyperParameters": {"num_leaves": "7", "cv_folds": "3"},
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://acme-titanic/titanic/datasets/abc/{channel}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
            }
            for channel in ("train", "validation")
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://acme-titanic/titanic/jobs"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 900, "MaxWaitTimeInSeconds": 1800},
        "CreationTime": at(0),
        "TrainingStartTime": at(60),
        "TrainingEndTime": at(150),
        "LastModifiedTime": at(160),
        "SecondaryStatusTransitions": [
            {
                "Status": "Starting",
                "StartTime": at(0),
                "EndTime": at(40),
                "StatusMessage": "Preparing the instances for training",
            },
            {
                "Status": "Downloading",
                "StartTime": at(40),
                "EndTime": at(60),
                "StatusMessage": "Downloading the training image",
            },
            {
                "Status": "Training",
                "StartTime": at(60),
                "EndTime": at(140),
                "StatusMessage": "Training image download completed.",
            },
            {
                "Status": "Uploading",
                "StartTime": at(140),
                "EndTime": at(150),
                "StatusMessage": "Uploading generated training model",
            },
            {
                "Status": "Completed",
                "StartTime": at(150),
                "EndTime": at(150),
                "StatusMessage": "Training job completed",
            },
        ],
        "FinalMetricDataList": [
            {"MetricName": "validation:accuracy", "Value": 0.8626, "Timestamp": at(140)},
            {"MetricName": "validation:auc", "Value": 0.9164, "Timestamp": at(140)},
            {"MetricName": "cv:accuracy_mean", "Value": 0.8233, "Timestamp": at(140)},
        ],
        "EnableManagedSpotTraining": True,
        "TrainingTimeInSeconds": 90,
        "BillableTimeInSeconds": 36,
    }


def put_artifact(settings: Settings, key: str) -> str:
    """A model.tar.gz the trainer could have written (metrics.json with the same scores)."""
    storage.ensure_bucket(settings)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in (
            ("model.joblib", b"not unpickled here"),
            ("metrics.json", b'{"validation": {"accuracy": 0.8626, "roc_auc": 0.9164}, "cv": {"folds": 3}}'),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    aws.client(settings, "s3").put_object(Bucket=settings.bucket, Key=key, Body=buffer.getvalue())
    return f"s3://{settings.bucket}/{key}"


def test_import_from_a_real_shaped_response(settings: Settings) -> None:
    name = "titanic-20261130-090000-import"
    artifact = put_artifact(settings, f"jobs/{name}/output/model.tar.gz")
    client = aws.client(settings, "sagemaker")
    with Stubber(client) as stub:  # add_response checks the response against botocore's model
        stub.add_response("describe_training_job", described(name, artifact), {"TrainingJobName": name})
        job = import_job(settings, name, sagemaker=client)
    assert (job.target, job.status, job.secondary_status) == ("aws", "Completed", "Completed")
    assert job.created_at == START.timestamp()
    assert [(t.status, t.secondary_status) for t in job.transitions] == [
        ("Pending", None),
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
        ("InProgress", "Uploading"),
        ("Completed", "Completed"),
    ]
    assert job.transitions[3].message == "Training image download completed."
    assert (job.instance_type, job.use_spot, job.image_uri) == ("ml.m5.large", True, IMAGE)
    assert job.channels["validation"] == "s3://acme-titanic/titanic/datasets/abc/validation/"
    assert job.hyperparameters == {"num_leaves": "7", "cv_folds": "3"}
    assert (job.training_seconds, job.billable_seconds) == (90.0, 36.0)
    assert job.spot_savings == pytest.approx(0.6)
    assert (job.validation_accuracy, job.validation_auc, job.cv_accuracy) == (0.8626, 0.9164, 0.8233)
    imported = job.request["imported"]
    assert imported["resources"] == {
        "region": "eu-central-1",
        "bucket": "acme-titanic",
        "repository": "acme/titanic",
        "role_arn": ROLE,
        "instance_count": 1,
    }
    # Never guessed: what DescribeTrainingJob does not say.
    assert set(imported["unknown"]) == set(ALWAYS_UNKNOWN)
    assert job.dataset_version is None and job.instance_reason is None and job.estimated_cost is None
    # The artifact was downloaded and verified, so metrics.json is known.
    assert job.local_path and (Path(job.local_path) / "model" / "metrics.json").is_file()


def test_an_imported_jobs_submission_is_its_record(settings: Settings) -> None:
    name = "titanic-20261130-090000-submit"
    artifact = put_artifact(settings, f"jobs/{name}/output/model.tar.gz")
    client = aws.client(settings, "sagemaker")
    with Stubber(client) as stub:
        stub.add_response("describe_training_job", described(name, artifact), {"TrainingJobName": name})
        job = import_job(settings, name, sagemaker=client)
    for lang in ("ko", "en"):
        markdown = submission.generate(
            settings,
            name,
            lang,
            settings.runs_dir / "sub",
            evidence={},
            revision="unknown",
            render_images=False,
        ).markdown.read_text(encoding="utf-8")
        resources = markdown.split("## 3.", 1)[1].split("## 4.", 1)[0]
        for value in (
            "eu-central-1",
            "acme-titanic",
            "acme/titanic",
            IMAGE,
            name,
            ROLE,
            "ml.m5.large",
            artifact,
        ):
            assert f"| `{value}` |" in resources, value
        assert text("submission.imported.banner", lang) in markdown
        assert text("submission.why.unknown_imported", lang) in markdown
        assert "local stand-in" not in markdown and "로컬 대역" not in markdown
    assert job.status == "Completed"


def test_import_a_moto_job_marks_what_moto_does_not_say(settings: Settings) -> None:
    sagemaker = aws.client(settings, "sagemaker")
    name = f"titanic-moto-import-{int(time.time() * 1000)}"
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": f"s3://{settings.bucket}/jobs"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        HyperParameters={"num_leaves": "7"},
    )
    result = CliRunner().invoke(app, ["--state-dir", str(settings.state_dir), "jobs", "import", name])
    assert result.exit_code == 0, result.output
    assert f"{name}: imported into the job store as Completed" in result.output
    job = JobStore(settings.job_store_path).get(name)
    imported = job.request["imported"]
    # moto gives no BillableTimeInSeconds and writes no model.tar.gz: both unknown, said why.
    assert "billable_seconds" in imported["unknown"] and "metrics.json" in imported["unknown"]
    assert job.billable_seconds is None and job.spot_savings is None and job.actual_cost is None
    assert "download_error" in imported and "model.tar.gz could not be read" in result.output
    assert imported["resources"]["bucket"] == settings.bucket
    assert job.hyperparameters == {"num_leaves": "7"}


def test_a_name_sagemaker_does_not_know_is_one_line(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["--state-dir", str(settings.state_dir), "jobs", "import", "titanic-nope"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: DescribeTrainingJob titanic-nope: ")
    assert len(result.output.strip().splitlines()) == 1


def test_importing_twice_is_refused(settings: Settings) -> None:
    name = "titanic-20261130-090000-twice"
    client = aws.client(settings, "sagemaker")
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_response("describe_training_job", described(name, "s3://acme-titanic/x/model.tar.gz"))
        import_job(settings, name, sagemaker=client, download=False)
        with pytest.raises(ImportJobError, match="already in the job store"):
            import_job(settings, name, sagemaker=client, download=False)
