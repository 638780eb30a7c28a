"""The aws code path of Estimator.fit against moto's SageMaker: the exact CreateTrainingJob request.

Local mode ignores spot, checkpoints, metric definitions and stopping conditions, so this is
where they are proven. moto validates nothing, so our own validation is tested here too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from container.metrics import METRIC_DEFINITIONS
from services import aws, training
from services.settings import Settings

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/titanic-training@{DIGEST}"


@pytest.fixture
def aws_settings(settings: Settings) -> Settings:
    # AWS_ENDPOINT_URL (set by the settings fixture) sends the aws target's clients to moto.
    return replace(settings, target="aws", role_arn="arn:aws:iam::123456789012:role/titanic-sm-exec")


@pytest.fixture
def request_(aws_settings: Settings) -> training.FitRequest:
    return training.FitRequest(
        job_name=training.job_name_for("titanic-contract"),
        image_uri=IMAGE,
        channels={
            "train": aws_settings.s3_uri("datasets", "v1", "train") + "/",
            "validation": aws_settings.s3_uri("datasets", "v1", "validation") + "/",
        },
        hyperparameters={"num_leaves": 7, "learning_rate": 0.05},
        instance_type="ml.m5.large",
        use_spot=True,
        max_run_seconds=900,
        max_wait_seconds=1800,
        tags={"project": "titanic-sm"},
    )


def _capture_create_requests(session: object) -> list[dict[str, Any]]:
    """Record the parameters of every CreateTrainingJob the session's client sends.

    moto's DescribeTrainingJob echoes canned MetricDefinitions, so the request itself is checked.
    """
    sent: list[dict[str, Any]] = []
    client = session.sagemaker_client  # type: ignore[attr-defined]  # the SDK's Session has no type hints
    client.meta.events.register(
        "provide-client-params.sagemaker.CreateTrainingJob", lambda params, **_: sent.append(dict(params))
    )
    return sent


def test_create_training_job_request_on_the_aws_path(
    aws_settings: Settings, request_: training.FitRequest
) -> None:
    session = training.sagemaker_session(aws_settings)
    sent = _capture_create_requests(session)
    estimator = training.start_fit(aws_settings, request_, session=session, wait=False)
    assert estimator.latest_training_job.name == request_.job_name

    assert len(sent) == 1
    job = sent[0]
    assert job["TrainingJobName"] == request_.job_name
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS
    assert job["HyperParameters"] == {"num_leaves": "7", "learning_rate": "0.05"}
    assert job["RoleArn"] == aws_settings.role_arn
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 900, "MaxWaitTimeInSeconds": 1800}
    assert (
        job["CheckpointConfig"]["S3Uri"]
        == f"s3://{aws_settings.bucket}/titanic/checkpoints/{request_.job_name}"
    )
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{aws_settings.bucket}/titanic/jobs"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert channels == dict(request_.channels)
    assert {"Key": "project", "Value": "titanic-sm"} in job["Tags"]
    assert job.get("ProfilerConfig", {"DisableProfiler": True})["DisableProfiler"] is True
    assert "ProfilerRuleConfigurations" not in job
    assert job["EnableNetworkIsolation"] is True  # on by default: the trainer needs no network
    # moto accepted it: the job exists on the service side.
    described = aws.client(aws_settings, "sagemaker").describe_training_job(TrainingJobName=request_.job_name)
    assert described["AlgorithmSpecification"]["TrainingImage"] == IMAGE


def test_volume_tags_and_isolation_come_from_the_settings(
    aws_settings: Settings, request_: training.FitRequest
) -> None:
    settings = replace(
        aws_settings,
        volume_size_gb=12,
        network_isolation=False,
        tags={"course": "mlops", "project": "theirs"},
    )
    named = replace(request_, job_name=training.job_name_for("titanic-settings"))
    session = training.sagemaker_session(settings)
    sent = _capture_create_requests(session)
    estimator = training.start_fit(settings, named, session=session, wait=False)
    job = sent[0]
    assert job["ResourceConfig"]["VolumeSizeInGB"] == 12
    assert job.get("EnableNetworkIsolation", False) is False
    tags = {t["Key"]: t["Value"] for t in job["Tags"]}
    assert tags["course"] == "mlops"
    assert tags["project"] == "titanic-sm"  # the project's own tags win over the user's
    assert estimator.base_job_name == settings.job_name_base


def test_on_demand_sends_no_spot_or_checkpoint(aws_settings: Settings, request_: training.FitRequest) -> None:
    on_demand = replace(
        request_, job_name=training.job_name_for("titanic-od"), use_spot=False, max_wait_seconds=None
    )
    session = training.sagemaker_session(aws_settings)
    sent = _capture_create_requests(session)
    training.start_fit(aws_settings, on_demand, session=session, wait=False)
    job = sent[0]
    assert not job.get("EnableManagedSpotTraining")
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 900}
    assert "CheckpointConfig" not in job


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_wait_seconds": 600}, r"max_wait \(600 s\) must be at least max_run \(900 s\)"),
        ({"max_wait_seconds": None}, "spot training needs max_wait"),
        ({"use_spot": False}, "max_wait applies only to spot"),
        ({"max_run_seconds": 0}, "max_run must be between 1 and"),
        ({"instance_type": "ml.c5.large"}, "'ml.c5.large' is not a SageMaker training instance type"),
        ({"image_uri": "127.0.0.1:5000/titanic-training:latest"}, "must be pinned by digest"),
        ({"hyperparameters": {"num_leafs": 7}}, "unknown hyperparameter num_leafs"),
        ({"hyperparameters": {"num_leaves": 0}}, "num_leaves"),
        ({"channels": {"validation": "s3://b/v/"}}, "the train channel is missing"),
        ({"channels": {"train": "/tmp/train"}}, "train channel must be an S3 URI"),
        ({"job_name": "bad_name!"}, "invalid job name"),
    ],
)
def test_requests_sagemaker_would_reject_are_refused_before_any_call(
    aws_settings: Settings, request_: training.FitRequest, change: dict[str, object], message: str
) -> None:
    bad = replace(request_, **change)  # type: ignore[arg-type]  # each case changes one field to a value of its type
    with pytest.raises(training.TrainingError, match=message):
        training.build_estimator(aws_settings, bad, session=object())
    names = [
        j["TrainingJobName"]
        for j in aws.client(aws_settings, "sagemaker").list_training_jobs(MaxResults=100)[
            "TrainingJobSummaries"
        ]
    ]
    assert bad.job_name not in names


def test_job_names_are_unique_and_valid() -> None:
    names = {training.job_name_for("titanic run") for _ in range(50)}
    assert len(names) == 50
    assert all(training.JOB_NAME_PATTERN.match(n) and n.startswith("titanic-run-") for n in names)
    # The longest prefix the infra template admits still leaves a valid (<= 63) name, unchanged.
    longest = "p" * 40
    name = training.job_name_for(longest + "-too-long")
    assert name.startswith(longest + "-") and len(name) <= 63 and training.JOB_NAME_PATTERN.match(name)
    # Enough randomness that a thousand launches in one second do not collide.
    same_second = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)
    assert len({training.job_name_for("titanic", same_second) for _ in range(1000)}) == 1000


def test_the_local_target_sends_the_very_request_of_the_aws_target(
    settings: Settings, aws_settings: Settings, request_: training.FitRequest
) -> None:
    # One code path: the same Estimator (instance type, spot, checkpoints, limits) on both targets;
    # only the session's endpoints differ.
    local, remote = (training.build_estimator(s, request_) for s in (settings, aws_settings))
    for estimator in (local, remote):
        assert estimator.instance_type == "ml.m5.large"
        assert estimator.use_spot_instances
        assert estimator.max_wait == 1800 and estimator.max_run == 900
        assert estimator.hyperparameters() == {"num_leaves": "7", "learning_rate": "0.05"}
    assert local.checkpoint_s3_uri == training.checkpoint_uri(settings, request_.job_name)
    assert type(local.sagemaker_session) is type(remote.sagemaker_session)
