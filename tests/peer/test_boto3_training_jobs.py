"""Plain boto3 against the control plane: the lifecycle, what a client reads back, stops, spot."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from peer_helpers import BUCKET, SLOW, log_lines, wait_for

JobRequest = Callable[..., dict[str, Any]]


def _s3_keys(prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def _tar_names(key: str) -> list[str]:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return sorted(tar.getnames())


def _statuses(described: dict[str, Any]) -> list[str]:
    return [t["Status"] for t in described["SecondaryStatusTransitions"]]


def _raw_describe(sagemaker_url: str, name: str) -> dict[str, Any]:
    request = urllib.request.Request(
        sagemaker_url,
        data=json.dumps({"TrainingJobName": name}).encode(),
        headers={
            "X-Amz-Target": "SageMaker.DescribeTrainingJob",
            "Content-Type": "application/x-amz-json-1.1",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def _check_shape(value: Any, shape: Any, where: str) -> None:
    """Every field is a member of botocore's shape, with the shape's type, all the way down."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), where
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where}: not in botocore's model: {sorted(unknown)}"
        for key, item in value.items():
            _check_shape(item, shape.members[key], f"{where}.{key}")
    elif kind == "list":
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            _check_shape(item, shape.member, f"{where}[{index}]")
    elif kind == "map":
        assert isinstance(value, dict), where
        for key, item in value.items():
            _check_shape(key, shape.key, f"{where} key")
            _check_shape(item, shape.value, f"{where}.{key}")
    elif kind == "string":
        assert isinstance(value, str), where
        if shape.enum:
            assert value in shape.enum, f"{where}: {value!r} not in {shape.enum}"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind in ("float", "double"):
        assert isinstance(value, int | float), where
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind == "timestamp":
        assert isinstance(value, int | float), f"{where}: epoch seconds on awsJson1_1"


def test_a_job_completes_with_the_model_metrics_logs_and_shape_of_sagemaker(
    sagemaker: Any, job_request: JobRequest, peer_env: dict[str, str]
) -> None:
    request = job_request("peer-complete", Environment={"TITANIC_PEER": "yes"})
    name = request["TrainingJobName"]
    arn = sagemaker.create_training_job(**request)["TrainingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    described = wait_for(sagemaker, name)

    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert _statuses(described) == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all(t["StatusMessage"] for t in described["SecondaryStatusTransitions"])
    model = f"jobs/{name}/output/model.tar.gz"
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/{model}"
    assert _tar_names(model) == ["features.json", "metrics.json", "model.joblib", "model.txt"]
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert 0.7 < final["validation:accuracy"] < 0.9 and "validation:auc" in final
    assert described["TrainingStartTime"] <= described["TrainingEndTime"]
    assert 1 <= described["BillableTimeInSeconds"] <= described["TrainingTimeInSeconds"]
    assert described["Environment"] == {"TITANIC_PEER": "yes"}

    streams = log_lines(name)
    assert len(streams) == 1 and next(iter(streams)).startswith(f"{name}/algo-1-")
    lines = next(iter(streams.values()))
    assert any("validation:accuracy=" in line for line in lines)

    cloudwatch = boto3.client("cloudwatch")
    metrics = cloudwatch.list_metrics(
        Namespace="/aws/sagemaker/TrainingJobs", Dimensions=[{"Name": "Host", "Value": f"{name}/algo-1"}]
    )["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert {"CPUUtilization", "MemoryUtilization", "validation:accuracy"} <= names

    raw = _raw_describe(peer_env["AWS_ENDPOINT_URL_SAGEMAKER"], name)
    _check_shape(
        raw, sagemaker.meta.service_model.operation_model("DescribeTrainingJob").output_shape, "Describe"
    )


def test_a_failing_job_reports_its_failure_file_and_exit_code(
    sagemaker: Any, job_request: JobRequest
) -> None:
    request = job_request("peer-fail", train="no-sex")
    sagemaker.create_training_job(**request)
    described = wait_for(sagemaker, request["TrainingJobName"])
    assert described["TrainingJobStatus"] == "Failed"
    assert described["SecondaryStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith("AlgorithmError: ") and reason.endswith(", exit code: 1")
    assert "Sex" in reason and len(reason) <= 1024 + 60
    assert "ModelArtifacts" not in described


def test_stop_sends_sigterm_and_ends_stopped_with_the_model_so_far(
    sagemaker: Any, job_request: JobRequest, stop_at_end: list[str]
) -> None:
    request = job_request("peer-stop", HyperParameters=dict(SLOW))
    name = request["TrainingJobName"]
    sagemaker.create_training_job(**request)
    stop_at_end.append(name)
    wait_for(sagemaker, name, lambda d: d["SecondaryStatus"] == "Training")
    # Wait for boosting to have started, so the trainer is inside its SIGTERM-aware loop.
    deadline = time.monotonic() + 60
    while not any("checkpoint" in line for lines in log_lines(name).values() for line in lines):
        assert time.monotonic() < deadline, "no checkpoint line"
        time.sleep(0.3)
    sagemaker.stop_training_job(TrainingJobName=name)
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"
    described = wait_for(sagemaker, name)
    assert described["TrainingJobStatus"] == "Stopped"
    assert _statuses(described)[-2:] in (["Stopping", "Stopped"], ["Uploading", "Stopped"])
    assert "Stopping" in _statuses(described)
    lines = [line for lines in log_lines(name).values() for line in lines]
    assert any("Training stopped by SIGTERM" in line for line in lines), lines[-5:]
    # The trainer writes no model when stopped mid-boosting: no empty model.tar.gz either.
    assert f"jobs/{name}/output/model.tar.gz" not in _s3_keys(f"jobs/{name}/")
    assert "ModelArtifacts" not in described
    with pytest.raises(ClientError) as refused:
        sagemaker.stop_training_job(TrainingJobName=name)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_max_runtime_stops_the_job_as_max_runtime_exceeded(
    sagemaker: Any, job_request: JobRequest, stop_at_end: list[str]
) -> None:
    request = job_request(
        "peer-maxrun", HyperParameters=dict(SLOW), StoppingCondition={"MaxRuntimeInSeconds": 6}
    )
    name = request["TrainingJobName"]
    sagemaker.create_training_job(**request)
    stop_at_end.append(name)
    described = wait_for(sagemaker, name)
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "Stopping" in _statuses(described)
    assert described["TrainingTimeInSeconds"] >= 6


def _container_of(name: str, timeout: float = 60) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=titanic-sm.training-job={name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no running container labelled with {name}")


def _interfaces(container: str) -> set[str]:
    listed = subprocess.run(
        ["docker", "exec", container, "ls", "/sys/class/net"], capture_output=True, text=True, check=True
    )
    return set(listed.stdout.split())


def test_network_isolation_leaves_the_container_no_network_and_runs_jobs_side_by_side(
    sagemaker: Any, job_request: JobRequest, stop_at_end: list[str]
) -> None:
    isolated = job_request("peer-isolated", HyperParameters=dict(SLOW), EnableNetworkIsolation=True)
    connected = job_request(
        "peer-connected",
        HyperParameters=dict(SLOW),
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
    )
    crashing = job_request(
        "peer-crash",
        train="no-sex",
        ResourceConfig={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
    )
    for request in (isolated, connected, crashing):
        sagemaker.create_training_job(**request)
        stop_at_end.append(request["TrainingJobName"])
    assert _interfaces(_container_of(isolated["TrainingJobName"])) == {"lo"}
    assert "eth0" in _interfaces(_container_of(connected["TrainingJobName"]))
    inspect = subprocess.run(
        ["docker", "inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}",
         _container_of(connected["TrainingJobName"])],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert inspect == [str(2 * 10**9), str(16 * 1024**3)], "ml.m5.xlarge: 4 vCPU (capped at 2 here), 16 GiB"

    crashed = wait_for(sagemaker, crashing["TrainingJobName"])
    assert crashed["TrainingJobStatus"] == "Failed"
    for request in (isolated, connected):
        assert (
            sagemaker.describe_training_job(TrainingJobName=request["TrainingJobName"])["TrainingJobStatus"]
            == "InProgress"
        ), "a crash of one job leaves the others running"
    for request in (isolated, connected):
        described = wait_for(sagemaker, request["TrainingJobName"])
        assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")


def test_a_simulated_spot_interruption_restarts_and_resumes_from_the_checkpoint(
    sagemaker: Any, job_request: JobRequest, stop_at_end: list[str]
) -> None:
    name_holder = job_request("peer-spot")
    name = name_holder["TrainingJobName"]
    request = job_request(
        "peer-spot",
        TrainingJobName=name,
        HyperParameters={**SLOW, "n_estimators": "300"},
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200},
        CheckpointConfig={"S3Uri": f"s3://{BUCKET}/checkpoints/{name}"},
        Tags=[{"Key": "titanic-sm:simulate-spot-interruption-after-seconds", "Value": "5"}],
    )
    sagemaker.create_training_job(**request)
    stop_at_end.append(name)
    described = wait_for(sagemaker, name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert _statuses(described) == [
        "Starting", "Downloading", "Training", "Interrupted", "Restarting",
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    interrupted = next(t for t in described["SecondaryStatusTransitions"] if t["Status"] == "Interrupted")
    assert "simulated" in interrupted["StatusMessage"].lower()
    streams = list(log_lines(name).values())
    assert len(streams) == 2, "the restarted job writes a new algo-1-<epoch> stream"
    assert any("checkpoint: saved" in line for line in streams[0])
    assert any("checkpoint: resuming from" in line for line in streams[1]), streams[1][:10]
    assert _s3_keys(f"checkpoints/{name}/")
    # Billable time carries the stack's simulated spot discount.
    assert described["BillableTimeInSeconds"] < described["TrainingTimeInSeconds"]
    assert _tar_names(f"jobs/{name}/output/model.tar.gz") == [
        "features.json",
        "metrics.json",
        "model.joblib",
        "model.txt",
    ]


def test_quotas_refuse_a_zero_quota_type_and_a_second_job_over_the_quota(
    sagemaker: Any, job_request: JobRequest, stop_at_end: list[str]
) -> None:
    zero = job_request(
        "peer-quota0",
        ResourceConfig={"InstanceType": "ml.t3.medium", "InstanceCount": 1, "VolumeSizeInGB": 5},
    )
    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(**zero)
    assert refused.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert "ml.t3.medium for training job usage" in refused.value.response["Error"]["Message"]

    first = job_request("peer-quota1", HyperParameters=dict(SLOW))
    sagemaker.create_training_job(**first)
    stop_at_end.append(first["TrainingJobName"])
    with pytest.raises(ClientError) as over:
        sagemaker.create_training_job(**job_request("peer-quota2"))
    assert over.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert "is 1 Instances, with current utilization of 1" in over.value.response["Error"]["Message"]
    sagemaker.stop_training_job(TrainingJobName=first["TrainingJobName"])
    wait_for(sagemaker, first["TrainingJobName"])
