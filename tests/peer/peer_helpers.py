"""Helpers of the peer tier: what any client of the stack would write (no host code)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3

BUCKET = "titanic-sm-peer"
ROLE = "arn:aws:iam::123456789012:role/titanic-sm-execution"
TERMINAL = ("Completed", "Failed", "Stopped")
# Slow enough to stop, interrupt or inspect mid-run: about 0.05 s a round, a checkpoint every 10.
SLOW = {"cv_folds": "0", "n_estimators": "400", "checkpoint_every": "10", "round_delay_seconds": "0.05"}
FAST = {"cv_folds": "0"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(
    client: Any, name: str, until: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 240
) -> dict[str, Any]:
    """DescribeTrainingJob until ``until`` holds (default: the job ended), polling as the SDK does."""
    end = time.monotonic() + timeout
    while True:
        described = client.describe_training_job(TrainingJobName=name)
        if (until or (lambda d: d["TrainingJobStatus"] in TERMINAL))(described):
            return dict(described)
        if time.monotonic() > end:
            raise AssertionError(f"{name} is still {described['SecondaryStatus']} after {timeout:.0f}s")
        time.sleep(0.2)


def log_lines(name: str) -> dict[str, list[str]]:
    """Every CloudWatch log stream of the job, oldest first, and its lines."""
    logs = boto3.client("logs")
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
    )["logStreams"]
    found = {}
    for stream in sorted(streams, key=lambda s: s["logStreamName"]):
        events = logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs",
            logStreamName=stream["logStreamName"],
            startFromHead=True,
        )["events"]
        found[stream["logStreamName"]] = [event["message"] for event in events]
    return found
