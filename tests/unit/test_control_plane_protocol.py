"""The control plane's wire protocol through plain boto3, with a runner that runs nothing.

The HTTP server, the responses and the operations are the real ones; only the runner (Docker)
is replaced, so these cover the protocol, validation, quotas, listing and tags in milliseconds.
The peer tier runs the same operations against the whole stack.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from services import quotas
from services.local.control_plane.models import SPOT_INTERRUPTION_TAG, TrainingJob
from services.local.control_plane.runner import RunnerConfig
from services.local.control_plane.server import ControlPlane, serve

IMAGE = "127.0.0.1:5000/titanic-training@sha256:" + "a" * 64


class NoRunner:
    """Knows one image; starts nothing."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.woken: list[str] = []

    def resolve_image(self, image: str) -> str | None:
        return None if image == IMAGE else "the registry answered HTTP 404 (not pushed?)"

    def start(self, name: str, adopt: bool = False) -> None:
        self.started.append(name)

    def wake(self, name: str) -> None:
        self.woken.append(name)

    def running(self) -> list[str]:
        return []


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[tuple[ControlPlane, Any, str]]:
    config = RunnerConfig(state_dir=tmp_path, moto_url="http://127.0.0.1:1", registry="127.0.0.1:5000")
    control = ControlPlane(config, quotas.load_sample("us-east-1"), runner=NoRunner())  # type: ignore[arg-type]  # a stand-in runner with the methods the plane calls
    server = serve(control, 0)
    url = f"http://127.0.0.1:{server.server_port}"
    client = boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    try:
        yield control, client, url
    finally:
        server.shutdown()
        control.store.close()


def _request(name: str = "job-1", **fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/titanic-sm-execution",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"cv_folds": "0"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket-a/train/"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket-a/jobs"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    request.update(fields)
    return request


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response["Error"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


def test_create_then_describe_reads_back_what_was_sent(plane: tuple[ControlPlane, Any, str]) -> None:
    control, client, _ = plane
    arn = client.create_training_job(**_request())["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1"
    assert control.runner.started == ["job-1"]  # type: ignore[attr-defined]  # the stand-in runner records what it was asked
    described = client.describe_training_job(TrainingJobName="job-1")
    assert described["TrainingJobStatus"] == "InProgress" and described["SecondaryStatus"] == "Starting"
    assert described["HyperParameters"] == {"cv_folds": "0"}
    assert described["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert (
        described["SecondaryStatusTransitions"][0]["StatusMessage"] == "Preparing the instances for training"
    )
    assert "TrainingTimeInSeconds" not in described and "FailureReason" not in described

    code, message = _error(client.create_training_job, **_request())
    assert code == "ResourceInUse" and "already exists" in message
    code, message = _error(client.describe_training_job, TrainingJobName="nope")
    assert code == "ValidationException" and "nope" in message


VALIDATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("name pattern", {"TrainingJobName": "bad_name!"}, "trainingJobName"),
    ("name too long", {"TrainingJobName": "a" * 64}, "trainingJobName"),
    ("role", {"RoleArn": "titanic-sm-execution"}, "roleArn"),
    (
        "instance type",
        {"ResourceConfig": {"InstanceType": "ml.c5.large", "InstanceCount": 1}},
        "instanceType",
    ),
    ("instance count", {"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2}}, "1 instance"),
    ("output uri", {"OutputDataConfig": {"S3OutputPath": "/tmp/out"}}, "s3OutputPath"),
    (
        "channel uri",
        {
            "InputDataConfig": [
                {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "file:///x"}}}
            ]
        },
        "s3Uri",
    ),
    ("bucket name", {"OutputDataConfig": {"S3OutputPath": "s3://b/out"}}, "bucket name"),
    ("checkpoint uri", {"CheckpointConfig": {"S3Uri": "checkpoints/"}}, "checkpointConfig"),
    (
        "max wait below max run",
        {
            "EnableManagedSpotTraining": True,
            "StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 300},
        },
        "MaxWaitTimeInSeconds",
    ),
    ("spot without max wait", {"EnableManagedSpotTraining": True}, "MaxWaitTimeInSeconds"),
    (
        "max wait without spot",
        {"StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 900}},
        "MaxWaitTimeInSeconds",
    ),
    ("max runtime", {"StoppingCondition": {"MaxRuntimeInSeconds": 0}}, "maxRuntimeInSeconds"),
    (
        "unknown image",
        {"AlgorithmSpecification": {"TrainingImage": IMAGE.replace("a" * 64, "b" * 64)}},
        "not pushed",
    ),
    (
        "interruption without spot",
        {"Tags": [{"Key": SPOT_INTERRUPTION_TAG, "Value": "3"}]},
        SPOT_INTERRUPTION_TAG,
    ),
]


@pytest.mark.parametrize(
    ("change", "field_name"), [v[1:] for v in VALIDATIONS], ids=[v[0] for v in VALIDATIONS]
)
def test_create_refuses_what_sagemaker_refuses_naming_the_field(
    plane: tuple[ControlPlane, Any, str], change: dict[str, Any], field_name: str
) -> None:
    control, _, url = plane
    body = {**_request(), **change}
    # Some of these botocore would refuse before sending (its own length checks): post them raw.
    status, answer = _post(url, "CreateTrainingJob", body)
    assert status == 400 and answer["__type"] == "ValidationException", answer
    assert field_name in answer["message"]
    assert control.store.all() == []


def _post(url: str, operation: str | None, body: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if operation:
        headers["X-Amz-Target"] = f"SageMaker.{operation}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_quota_zero_and_concurrency_are_resource_limit_exceeded(plane: tuple[ControlPlane, Any, str]) -> None:
    _, client, _ = plane
    zero = _request("t3", ResourceConfig={"InstanceType": "ml.t3.medium", "InstanceCount": 1})
    code, message = _error(client.create_training_job, **zero)
    assert (
        code == "ResourceLimitExceeded" and "'ml.t3.medium for training job usage' is 0 Instances" in message
    )
    client.create_training_job(**_request("first"))
    code, message = _error(client.create_training_job, **_request("second"))
    assert code == "ResourceLimitExceeded" and "current utilization of 1 Instances" in message
    # Spot has its own quota; an unlisted type counts as 0.
    spot = _request(
        "spot", EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 600},
    )  # fmt: skip
    assert client.create_training_job(**spot)["TrainingJobArn"].endswith("/spot")
    code, message = _error(
        client.create_training_job, **_request("odd", ResourceConfig={"InstanceType": "ml.p4d.24xlarge"})
    )
    assert code == "ResourceLimitExceeded" and "not in the local stack's quota table" in message


def test_stop_moves_to_stopping_and_an_ended_job_refuses(plane: tuple[ControlPlane, Any, str]) -> None:
    control, client, _ = plane
    client.create_training_job(**_request())
    client.stop_training_job(TrainingJobName="job-1")
    described = client.describe_training_job(TrainingJobName="job-1")
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopping", "Stopping")
    assert control.runner.woken == ["job-1"]  # type: ignore[attr-defined]  # the stand-in runner records what it was asked
    control.store.update("job-1", lambda j: j.move("Stopped"))
    code, message = _error(client.stop_training_job, TrainingJobName="job-1")
    assert code == "ValidationException" and "status Stopped" in message


def _seed(control: ControlPlane, count: int) -> list[str]:
    names = []
    for index in range(count):
        job = TrainingJob.create(
            _request(f"seeded-{index:02d}"), "us-east-1", "123456789012", now=1000.0 + index
        )
        if index % 2:
            job.move("Downloading", now=1000.0 + index)
            job.move("Failed", "x", now=2000.0 + index)
        control.store.insert(job)
        names.append(job.name)
    return names


def test_list_filters_sorts_and_paginates_like_sagemaker(plane: tuple[ControlPlane, Any, str]) -> None:
    control, client, _ = plane
    names = _seed(control, 7)
    first = client.list_training_jobs(MaxResults=3)
    assert [s["TrainingJobName"] for s in first["TrainingJobSummaries"]] == names[::-1][:3]
    assert "NextToken" in first
    pages = client.get_paginator("list_training_jobs").paginate(
        SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}
    )
    assert [s["TrainingJobName"] for page in pages for s in page["TrainingJobSummaries"]] == names
    failed = client.list_training_jobs(StatusEquals="Failed", MaxResults=100)["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in failed] == [n for i, n in enumerate(names) if i % 2][::-1]
    assert all(s["TrainingJobStatus"] == "Failed" and "TrainingEndTime" in s for s in failed)
    named = client.list_training_jobs(NameContains="-03")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in named] == ["seeded-03"]
    window = client.list_training_jobs(
        CreationTimeAfter=1001.5, CreationTimeBefore=1004.5, SortOrder="Ascending"
    )
    assert [s["TrainingJobName"] for s in window["TrainingJobSummaries"]] == names[2:5]
    modified = client.list_training_jobs(LastModifiedTimeAfter=1500)["TrainingJobSummaries"]
    assert {s["TrainingJobName"] for s in modified} == set(names[1::2])
    code, _ = _error(client.list_training_jobs, NextToken="garbage")
    assert code == "ValidationException"


def test_the_tag_calls_of_the_sdk(plane: tuple[ControlPlane, Any, str]) -> None:
    _, client, _ = plane
    arn = client.create_training_job(**_request(Tags=[{"Key": "team", "Value": "ml"}]))["TrainingJobArn"]
    client.add_tags(
        ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}, {"Key": "team", "Value": "mlops"}]
    )
    assert {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn)["Tags"]} == {
        "team": "mlops",
        "stage": "dev",
    }
    client.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert client.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "dev"}]
    code, _ = _error(client.list_tags, ResourceArn=arn.replace("job-1", "other"))
    assert code == "ValidationException"


def test_anything_else_is_an_honest_error_naming_the_operation(plane: tuple[ControlPlane, Any, str]) -> None:
    _, client, url = plane
    code, message = _error(client.describe_endpoint, EndpointName="e")
    assert code == "UnknownOperationException" and "SageMaker.DescribeEndpoint" in message
    assert "CreateTrainingJob" in message
    status, answer = _post(url, None, {})
    assert status == 400 and answer["__type"] == "UnknownOperationException"
    status, answer = _post(url, "DescribeTrainingJob", b"{not json")
    assert status == 400 and answer["__type"] == "SerializationException"
