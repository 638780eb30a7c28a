"""A job's CPU and memory from CloudWatch (moto): the series SageMaker publishes under
/aws/sagemaker/TrainingJobs with Host=<job>/algo-1, and the peak memory against the instance's."""

from __future__ import annotations

import datetime as dt
import time
import types

import pytest

from services import aws, job_detail, local_stack
from services.jobs import JobStore
from services.settings import Settings


def _put(cloudwatch: object, host: str, metric: str, points: list[tuple[dt.datetime, float]]) -> None:
    cloudwatch.put_metric_data(  # type: ignore[attr-defined]  # boto3 makes a client's methods at run time
        Namespace="/aws/sagemaker/TrainingJobs",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "Host", "Value": host}],
                "Timestamp": stamp,
                "Value": value,
                "Unit": "Percent",
                "StorageResolution": 1,
            }
            for stamp, value in points
        ],
    )


@pytest.fixture
def stack_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack answers (this session's moto stands in for it)."""
    monkeypatch.setattr(local_stack, "status", lambda s: [types.SimpleNamespace(healthy=True)])


@pytest.mark.usefixtures("stack_up")
def test_cpu_and_memory_series_and_peak_memory_against_the_instance(settings: Settings) -> None:
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-resources-1", instance_type="ml.m5.large")
    store.heartbeat(job.id, pid=1)
    store.set_status(job.id, "InProgress", secondary_status="Training")
    job = store.set_status(job.id, "Completed", secondary_status="Completed")
    cloudwatch = aws.client(settings, "cloudwatch")
    base = dt.datetime.fromtimestamp(int(time.time()) - 20, dt.UTC)
    host = job_detail.host_dimension(job.job_name)
    assert host == "titanic-resources-1/algo-1"
    _put(cloudwatch, host, "CPUUtilization", [(base + dt.timedelta(seconds=s), 50.0 + s) for s in range(5)])
    _put(cloudwatch, host, "MemoryUtilization", [(base, 10.0), (base + dt.timedelta(seconds=2), 25.0)])
    # another job's metrics on the same namespace must not leak in
    _put(cloudwatch, "titanic-other/algo-1", "MemoryUtilization", [(base + dt.timedelta(seconds=1), 99.0)])

    series = job_detail.resource_series(settings, job)
    assert [value for _, value in series.cpu] == [50.0, 51.0, 52.0, 53.0, 54.0]
    assert [value for _, value in series.memory] == [10.0, 25.0]
    assert series.cpu[0][0] == base.isoformat(timespec="seconds")
    assert series.period_seconds == 1 and series.host == host
    assert series.instance_memory_gib == 8.0  # ml.m5.large
    assert series.peak_memory_percent == 25.0 and series.peak_memory_gib == 2.0
    assert series.notes == [] and "/aws/sagemaker/TrainingJobs" in series.source


@pytest.mark.usefixtures("stack_up")
def test_a_job_without_datapoints_says_so(settings: Settings) -> None:
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-resources-none", instance_type="ml.p5.4xlarge")
    store.heartbeat(job.id, pid=1)
    series = job_detail.resource_series(settings, store.get(job.id))
    assert series.cpu == [] and series.memory == [] and series.peak_memory_gib is None
    assert series.notes == ["no_datapoints", "no_instance_memory"]  # ml.p5.4xlarge: no specs known


def test_a_stopped_local_stack_is_not_started_to_draw_a_chart(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(s: Settings) -> None:
        raise AssertionError("the local stack was asked to start")

    monkeypatch.setattr(local_stack, "ensure_running", refuse)
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-resources-down", instance_type="ml.m5.large")
    store.heartbeat(job.id, pid=1)
    series = job_detail.resource_series(settings, store.get(job.id))  # nothing runs in this state dir
    assert series.notes == ["local_stack_down"] and series.cpu == [] and series.instance_memory_gib == 8.0
