"""The SageMaker SDK's own Estimator.fit(logs=True) and the AWS CLI against the stack, and the
validations a user meets first, through plain boto3 on the real stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from peer_helpers import BUCKET, ROLE, unique, wait_for

from container.metrics import METRIC_DEFINITIONS
from services.image.images import ImageRef

JobRequest = Callable[..., dict[str, Any]]
TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def test_the_sdks_estimator_fits_with_logs_against_the_stack(
    peer_env: dict[str, str],
    training_image: ImageRef,
    channels: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sagemaker
    from sagemaker.estimator import Estimator

    boto_session = boto3.Session()
    session = sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker"),
        default_bucket=BUCKET,
        sagemaker_config=TELEMETRY_OFF,
    )
    estimator = Estimator(
        image_uri=training_image.uri_with_digest,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/sdk-jobs",
        hyperparameters={"cv_folds": 0},
        metric_definitions=METRIC_DEFINITIONS,
        max_run=600,
        disable_profiler=True,
        sagemaker_session=session,
    )
    name = unique("peer-sdk")
    estimator.fit(
        {"train": channels["train"], "validation": channels["validation"]}, job_name=name, logs=True
    )

    printed = capsys.readouterr().out
    assert "validation:accuracy=" in printed, "the SDK streamed the job's CloudWatch log"
    assert "Completed - Training job completed" in printed
    assert estimator.model_data == f"s3://{BUCKET}/sdk-jobs/{name}/output/model.tar.gz"
    described = session.sagemaker_client.describe_training_job(TrainingJobName=name)
    # The SDK str()s hyperparameters and JSON-quotes none of ours.
    assert described["HyperParameters"]["cv_folds"] == "0"
    assert {m["MetricName"] for m in described["FinalMetricDataList"]} >= {"validation:accuracy"}
    head = boto3.client("s3").head_object(Bucket=BUCKET, Key=f"sdk-jobs/{name}/output/model.tar.gz")
    assert head["ContentLength"] > 1000


def test_the_aws_cli_lists_and_describes_jobs_through_local_env(
    peer_env: dict[str, str], sagemaker: Any, job_request: JobRequest, tmp_path: Path
) -> None:
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert aws, "the AWS CLI is in requirements.txt"
    request = job_request("peer-cli")
    name = request["TrainingJobName"]
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(request))
    env = {**os.environ, **peer_env, "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_PAGER": ""}

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [aws, *args, "--output", "json"], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    created = cli("sagemaker", "create-training-job", "--cli-input-json", f"file://{spec}")
    assert created["TrainingJobArn"].endswith(f"/{name}")
    wait_for(sagemaker, name)
    described = cli("sagemaker", "describe-training-job", "--training-job-name", name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    listed = cli("sagemaker", "list-training-jobs", "--name-contains", name)
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == [name]
    # The same eval'd environment reaches moto for S3.
    keys = cli("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", f"jobs/{name}/")
    assert [item["Key"] for item in keys["Contents"]] == [f"jobs/{name}/output/model.tar.gz"]


@pytest.mark.parametrize(
    ("change", "code", "says"),
    [
        ({"TrainingJobName": "under_score"}, "ValidationException", "trainingJobName"),
        ({"RoleArn": "arn:aws:iam::1234:role/short-account"}, "ValidationException", "roleArn"),
        ({"ResourceConfig": {"InstanceType": "ml.c5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}},
         "ValidationException", "TrainingInstanceType"),
        ({"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5}},
         "ValidationException", "distributed training is not supported"),
        ({"OutputDataConfig": {"S3OutputPath": "output/"}}, "ValidationException", "s3OutputPath"),
        ({"EnableManagedSpotTraining": True,
          "StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 60}},
         "ValidationException", "must be greater than or equal to MaxRuntimeInSeconds"),
        ({"ResourceConfig": {"InstanceType": "ml.t3.medium", "InstanceCount": 1, "VolumeSizeInGB": 5}},
         "ResourceLimitExceeded", "ml.t3.medium for training job usage"),
    ],
    ids=["name", "role", "instance-type", "instance-count", "s3-uri", "max-wait", "quota-0"],
)  # fmt: skip
def test_validation_through_boto3_on_the_stack(
    sagemaker: Any, job_request: JobRequest, change: dict[str, Any], code: str, says: str
) -> None:
    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(**job_request("peer-invalid", **change))
    assert refused.value.response["Error"]["Code"] == code
    assert says in refused.value.response["Error"]["Message"]


def test_an_image_the_registry_cannot_resolve_is_refused(
    sagemaker: Any, job_request: JobRequest, training_image: ImageRef
) -> None:
    missing = f"{training_image.repository_uri}@sha256:{'0' * 64}"
    request = job_request("peer-noimage")
    request["AlgorithmSpecification"] = {**request["AlgorithmSpecification"], "TrainingImage": missing}
    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(**request)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert missing in refused.value.response["Error"]["Message"]
    name = request["TrainingJobName"]
    with pytest.raises(ClientError):
        sagemaker.describe_training_job(TrainingJobName=name)


def test_a_duplicate_name_is_resource_in_use(sagemaker: Any, job_request: JobRequest) -> None:
    request = job_request("peer-dup")
    sagemaker.create_training_job(**request)
    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(
            **{**request, "ResourceConfig": {**request["ResourceConfig"], "InstanceType": "ml.m5.xlarge"}}
        )
    assert refused.value.response["Error"]["Code"] == "ResourceInUse"
    assert wait_for(sagemaker, request["TrainingJobName"])["TrainingJobStatus"] == "Completed"
