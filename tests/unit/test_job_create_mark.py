"""The orphan window: a worker that dies between sending CreateTrainingJob and recording the job
leaves a "create requested" mark. The reaper leaves such a job alone; ``sync`` asks the training
API by name (DescribeTrainingJob, through a botocore Stubber here) and adopts it or records why it
never ran; ``stop.stop`` stops it there or records Stopped; a page's poll asks the API only
when the job's worker is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from services import aws
from services.jobs import sync as job_sync
from services.jobs.store import Job, JobStore
from services.settings import Settings
from services.training import follow, launch, stop

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/titanic-sm@sha256:" + "a" * 64
NOT_FOUND = "Requested resource not found."  # SageMaker's own answer for an unknown training job


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        target="aws",
        bucket="titanic-sm-unit-orphans",
        role_arn="arn:aws:iam::111111111111:role/titanic-sm-execution",
        state_dir=tmp_path / "state",
        runs_dir=tmp_path / "runs",
        data_dir=tmp_path,
    )


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """Every SageMaker client the code makes is this stubbed one: a call not queued fails the test."""
    client = boto3.client("sagemaker", region_name="us-east-1")
    monkeypatch.setattr(aws, "client", lambda settings, service, **kwargs: client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The jobs ``launch.adopt`` started a new worker for (none is really started here)."""
    started: list[str] = []
    monkeypatch.setattr(launch, "_spawn_worker", lambda settings, job: started.append(job.id))
    return started


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def marked_job(
    settings: Settings, name: str, *, requested_ago: float = 60.0, status: str = "InProgress"
) -> Job:
    """A job whose worker asked for CreateTrainingJob ``requested_ago`` seconds ago and then died."""
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target=settings.target, job_name=name, image_uri=IMAGE)
    store.heartbeat(job.id, pid=dead_pid())
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    if status != "InProgress":
        store.set_status(job.id, status, secondary_status=status)
    return store.update(job.id, create_requested_at=time.time() - requested_ago)


def described(name: str, status: str = "InProgress") -> dict[str, Any]:
    """A DescribeTrainingJob answer as SageMaker gives it."""
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": status,
        "SecondaryStatus": "Training",
        "ModelArtifacts": {"S3ModelArtifacts": ""},
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "CreationTime": datetime.now(UTC),
    }


def unknown(stub: Stubber, method: str, name: str) -> None:
    stub.add_client_error(
        method, "ValidationException", NOT_FOUND, 400, expected_params={"TrainingJobName": name}
    )


def test_the_reaper_leaves_a_job_whose_create_was_requested(settings: Settings) -> None:
    store = JobStore(settings.job_store_path)
    marked = marked_job(settings, "titanic-marked")
    plain, _ = store.create(target="aws", job_name="titanic-plain")
    store.heartbeat(plain.id, pid=dead_pid())
    # Only the unmarked job is the reaper's: the marked one may exist at SageMaker.
    assert store.reap_dead_workers() == [plain.id]
    assert store.get(marked.id).status == "InProgress"
    assert store.get(marked.id).training_job == {}  # the mark is its own column


def test_sync_fails_a_marked_job_the_api_does_not_have(settings: Settings, sagemaker: Stubber) -> None:
    store = JobStore(settings.job_store_path)
    job = marked_job(settings, "titanic-never-created")
    unknown(sagemaker, "describe_training_job", job.job_name)
    assert job_sync.sync(settings, store) == [job.id]
    failed = store.get(job.id)
    assert failed.status == "Failed"
    assert failed.failure_reason == (
        f"the worker pid {job.worker_pid} died before SageMaker had training job titanic-never-created: "
        "DescribeTrainingJob finds no such job, so nothing ran"
    )
    assert failed.transitions[-1].message == failed.failure_reason


def test_a_marked_stopping_job_the_api_does_not_have_ends_stopped(
    settings: Settings, sagemaker: Stubber
) -> None:
    job = marked_job(settings, "titanic-stopping-never-created", status="Stopping")
    unknown(sagemaker, "describe_training_job", job.job_name)
    assert job_sync.sync(settings) == [job.id]
    assert JobStore(settings.job_store_path).get(job.id).status == "Stopped"


def test_sync_waits_while_the_create_may_still_arrive_or_a_paused_worker_holds_the_job(
    settings: Settings, sagemaker: Stubber
) -> None:
    store = JobStore(settings.job_store_path)
    fresh = marked_job(settings, "titanic-just-sent", requested_ago=1.0)
    unknown(sagemaker, "describe_training_job", fresh.job_name)
    assert job_sync.sync(settings, store) == []
    assert store.get(fresh.id).status == "InProgress"

    held = marked_job(settings, "titanic-paused-worker")
    with follow.following(settings, held.id):  # a live follower (paused, say) holds the lock
        unknown(sagemaker, "describe_training_job", held.job_name)
        assert job_sync.sync(settings, store, job_ids=[held.id]) == []
    assert store.get(held.id).status == "InProgress"


def test_sync_adopts_a_marked_job_the_api_has(
    settings: Settings, sagemaker: Stubber, spawned: list[str]
) -> None:
    store = JobStore(settings.job_store_path)
    job = marked_job(settings, "titanic-created-then-died")
    # sync asks by name, then adopt reads SageMaker's record for the new worker.
    for _ in range(2):
        sagemaker.add_response(
            "describe_training_job", described(job.job_name), {"TrainingJobName": job.job_name}
        )
    assert job_sync.sync(settings, store) == [job.id]
    assert spawned == [job.id]
    adopted = store.get(job.id)
    assert adopted.status == "InProgress"
    assert adopted.training_job["TrainingJobStatus"] == "InProgress"
    assert adopted.training_job["AlgorithmSpecification"]["TrainingImage"] == IMAGE


def test_stop_of_a_marked_job_whose_worker_died(settings: Settings, sagemaker: Stubber) -> None:
    there = marked_job(settings, "titanic-stop-there")
    # SageMaker has it: it is stopped there (sync's adoption then records its end).
    sagemaker.add_response("stop_training_job", {}, {"TrainingJobName": there.job_name})
    assert stop.stop(settings, there.id).status == "Stopping"
    # SageMaker never had it: nothing runs, and the job is recorded Stopped.
    never = marked_job(settings, "titanic-stop-never")
    unknown(sagemaker, "stop_training_job", never.job_name)
    stopped = stop.stop(settings, never.id)
    assert (stopped.status, stopped.secondary_status) == ("Stopped", "Stopped")


def test_the_poll_asks_the_api_only_when_the_watched_jobs_worker_is_gone(
    settings: Settings, sagemaker: Stubber
) -> None:
    store = JobStore(settings.job_store_path)
    live, _ = store.create(target="aws", job_name="titanic-live")
    store.heartbeat(live.id, pid=os.getpid())  # this process: alive and beating
    store.set_status(live.id, "InProgress", secondary_status="Training")
    # No call is queued: any SageMaker call would fail the test.
    for _ in range(3):
        assert job_sync.watched_job(settings, live.id, store) == store.get(live.id)
        assert job_sync.current_jobs(settings, [live.id], store)[0].status == "InProgress"
    assert job_sync.running_job(settings, store) == store.get(live.id)

    gone = marked_job(settings, "titanic-gone")
    assert job_sync.worker_gone(gone) and not job_sync.worker_gone(store.get(live.id))
    unknown(sagemaker, "describe_training_job", gone.job_name)
    # The newest running job is the gone one: synced, it ends, and the live one is watched.
    assert job_sync.watched_job(settings, None, store) == store.get(live.id)
    assert store.get(gone.id).status == "Failed"
