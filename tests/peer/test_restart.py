"""Nothing lost: `titanic-sm local down` / `up` keeps datasets, artifacts, images, logs and jobs,
and a job that was running when the stack went down is adopted and finishes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from peer_helpers import BUCKET, SLOW, log_lines, wait_for

from services.local.stack import StackEndpoints
from services.settings import Settings

JobRequest = Callable[..., dict[str, Any]]


def _cli(settings: Settings, *args: str) -> float:
    command = [str(Path(sys.executable).parent / "titanic-sm"), "--state-dir", str(settings.state_dir), *args]
    env = {**os.environ, "TITANIC_SM_LOCAL_STOP_GRACE_SECONDS": str(settings.local_stop_grace_seconds)}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - started


def _running_containers(name: str) -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=titanic-sm.training-job={name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def test_down_and_up_keep_everything_and_adopt_the_running_job(
    stack_settings: Settings,
    local_stack: StackEndpoints,
    sagemaker: Any,
    job_request: JobRequest,
    channels: dict[str, str],
) -> None:
    done_request = job_request("peer-before")
    sagemaker.create_training_job(**done_request)
    done = wait_for(sagemaker, done_request["TrainingJobName"])
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    running_request = job_request(
        "peer-across",
        HyperParameters={**SLOW, "n_estimators": "250"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
    )
    running = running_request["TrainingJobName"]
    sagemaker.create_training_job(**running_request)
    wait_for(sagemaker, running, lambda d: d["SecondaryStatus"] == "Training")
    s3 = boto3.client("s3")
    keys_before = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    ecr = boto3.client("ecr")
    images_before = ecr.describe_images(repositoryName=stack_settings.repository)["imageDetails"]
    logs_before = log_lines(done_request["TrainingJobName"])

    down_seconds = _cli(stack_settings, "local", "down")
    assert _running_containers(running), "a running job keeps its container while the stack is down"
    up_seconds = _cli(stack_settings, "local", "up")
    print(f"local down {down_seconds:.2f}s, local up (with replay) {up_seconds:.2f}s")

    # Same ports: image URIs and every client's endpoint stay valid.
    assert Path(local_stack.state_dir / "stack.json").is_file()
    keys_after = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert set(keys_before) <= set(keys_after)
    assert any(key.startswith("channels/train/") for key in keys_after)
    model = f"jobs/{done_request['TrainingJobName']}/output/model.tar.gz"
    assert s3.head_object(Bucket=BUCKET, Key=model)["ContentLength"] > 1000
    images_after = ecr.describe_images(repositoryName=stack_settings.repository)["imageDetails"]
    assert {i["imageDigest"] for i in images_after} == {i["imageDigest"] for i in images_before}
    assert log_lines(done_request["TrainingJobName"]) == logs_before
    again = sagemaker.describe_training_job(TrainingJobName=done_request["TrainingJobName"])
    assert again["SecondaryStatusTransitions"] == done["SecondaryStatusTransitions"]
    assert again["FinalMetricDataList"] == done["FinalMetricDataList"]

    adopted = wait_for(sagemaker, running)
    assert adopted["TrainingJobStatus"] == "Completed", adopted.get("FailureReason")
    assert s3.head_object(Bucket=BUCKET, Key=f"jobs/{running}/output/model.tar.gz")["ContentLength"] > 1000
    lines = [line for stream in log_lines(running).values() for line in stream]
    assert any("validation:accuracy=" in line for line in lines), "lines after the restart were shipped too"
    assert lines.count(lines[0]) == 1, "no line shipped twice"
    assert not _running_containers(running)
