"""The SQLite job store: migration from v1, transitions, idempotent create, concurrency, reaping,
and reconciliation with SageMaker's list_training_jobs (moto)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from services import aws
from services.jobs import store as jobs
from services.jobs import sync as job_sync
from services.jobs.store import JobStore
from services.settings import Settings


def test_fresh_store_is_at_the_latest_schema(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    assert store.list() == []
    assert store.schema_version() == jobs.SCHEMA_VERSION == len(jobs.MIGRATIONS)


def test_upgrading_a_v1_database_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(jobs.MIGRATIONS[0])
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute(
        "INSERT INTO jobs (id, target, job_name, status, hyperparameters, created_at, updated_at) "
        "VALUES ('old1', 'local', 'titanic-old', 'Completed', '{\"num_leaves\": 7}', 100.0, 200.0)"
    )
    conn.commit()
    conn.close()

    store = JobStore(path)
    assert store.migrate() == len(jobs.MIGRATIONS)
    assert store.schema_version() == len(jobs.MIGRATIONS)
    old = store.get("old1")
    assert (old.job_name, old.status, old.hyperparameters) == ("titanic-old", "Completed", {"num_leaves": 7})
    assert [t.status for t in old.transitions] == ["Completed"]
    assert old.request_key is None and old.worker_pid is None
    # New columns work on the migrated file.
    job, _ = store.create(target="local", job_name="titanic-new", request_key="k1", estimated_cost=0.01)
    assert store.get(job.id).estimated_cost == 0.01


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    JobStore(path).migrate()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError, match="schema v99, newer than this code"):
        JobStore(path).migrate()


def test_transitions_are_recorded_and_terminal_is_final(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, created = store.create(
        target="local", job_name="titanic-a", instance_type="ml.m5.large", use_spot=True
    )
    assert created and job.status == "Pending" and job.use_spot
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    store.set_status(job.id, "InProgress", secondary_status="Training")
    store.set_status(job.id, "InProgress", secondary_status="Training")  # no change, no new row
    done = store.set_status(job.id, "Completed", secondary_status="Completed", validation_accuracy=0.81)
    assert [(t.status, t.secondary_status) for t in done.transitions] == [
        ("Pending", None),
        ("InProgress", "Starting"),
        ("InProgress", "Training"),
        ("Completed", "Completed"),
    ]
    assert done.validation_accuracy == 0.81
    assert done.duration_seconds is not None and done.duration_seconds >= 0
    late = store.set_status(job.id, "Failed", failure_reason="late write")
    assert late.status == "Completed" and late.failure_reason is None
    with pytest.raises(ValueError, match="unknown job status 'Done'"):
        store.set_status(job.id, "Done")
    with pytest.raises(TypeError, match="unknown job fields"):
        store.update(job.id, colour="red")
    with pytest.raises(jobs.JobNotFoundError, match="no job 'nope'"):
        store.get("nope")
    assert store.get("titanic-a").id == job.id  # by name too


def test_same_request_key_returns_the_same_job(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    first, created = store.create(target="local", job_name="titanic-1", request_key="tab-click-1")
    again, created_again = store.create(target="local", job_name="titanic-2", request_key="tab-click-1")
    assert created and not created_again and again.id == first.id
    assert [j.job_name for j in store.list()] == ["titanic-1"]


def test_filters_and_order(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    a, _ = store.create(target="local", job_name="titanic-a")
    b, _ = store.create(target="aws", job_name="titanic-b")
    store.set_status(a.id, "Failed", failure_reason="boom")
    assert [j.job_name for j in store.list()] == ["titanic-b", "titanic-a"]
    assert [j.job_name for j in store.list(statuses=["Failed"])] == ["titanic-a"]
    assert [j.job_name for j in store.list(targets=["aws"])] == ["titanic-b"]
    assert store.get(a.id).failure_reason == "boom"
    assert jobs.as_summary(store.get(b.id))["target"] == "aws"


def _hammer(path: str, prefix: str, count: int) -> None:
    store = JobStore(path)
    for i in range(count):
        job, _ = store.create(target="local", job_name=f"{prefix}-{i}", request_key=f"{prefix}-{i}")
        store.set_status(job.id, "InProgress", secondary_status="Training")
        store.heartbeat(job.id, pid=1)
        store.set_status(job.id, "Completed")


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "jobs.sqlite3")
    JobStore(path).migrate()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_hammer, args=(path, name, 25)) for name in ("one", "two")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)  # spawn re-imports the package: slow on a loaded 2-core machine, not a hang
        assert w.exitcode == 0, f"writer exit code {w.exitcode}"
    done = JobStore(path).list()
    assert len(done) == 50 and {j.status for j in done} == {"Completed"}
    assert all(len(j.transitions) == 3 for j in done)


def test_a_dead_worker_fails_its_job_on_the_next_refresh_and_reads_never_write(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.create(target="local", job_name="titanic-crash")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    store.heartbeat(job.id, pid=proc.pid)
    store.set_status(job.id, "InProgress", secondary_status="Training")
    assert store.get(job.id).status == "InProgress"
    assert [j.status for j in store.list()] == ["InProgress"]
    assert store.page().jobs[0].status == "InProgress"
    assert [t.status for t in store.get(job.id).transitions] == ["Pending", "InProgress"]
    assert jobs.refresh(store) == [job.id]
    failed = store.get(job.id)
    assert failed.status == "Failed"
    assert failed.failure_reason == f"worker pid {proc.pid} exited without finishing"


def test_stale_heartbeat_of_a_live_worker_is_unknown_not_failed_and_never_started(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    paused, _ = store.create(target="local", job_name="titanic-paused")
    store.heartbeat(paused.id, pid=12345)
    never, _ = store.create(target="local", job_name="titanic-never")
    start = time.time()
    running = lambda pid: True  # noqa: E731 -- the pid looks alive; only the clock decides here
    assert store.reap_dead_workers(is_alive=running, now=start + 30) == []
    assert store.reap_dead_workers(is_alive=running, now=start + jobs.START_TIMEOUT_SECONDS + 5) == [never.id]
    # A live worker past the heartbeat timeout is paused or busy: its job stays as it was.
    late = start + jobs.HEARTBEAT_TIMEOUT_SECONDS + 5
    assert store.reap_dead_workers(is_alive=running, now=late) == []
    assert store.get(paused.id).status == "Pending"
    assert "never started" in (store.get(never.id).failure_reason or "")


def test_a_stopping_job_whose_worker_died_is_stopped(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.create(target="local", job_name="titanic-stop")
    store.heartbeat(job.id, pid=999_999_9)
    store.set_status(job.id, "Stopping")
    assert store.reap_dead_workers(is_alive=lambda pid: False) == [job.id]
    assert store.get(job.id).status == "Stopped"


def _create_training_job(sagemaker: Any, settings: Settings, name: str) -> None:
    """A training job in moto's SageMaker (which completes it at once)."""
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "i@sha256:" + "a" * 64, "TrainingInputMode": "File"},
        RoleArn=settings.role_arn,
        OutputDataConfig={"S3OutputPath": f"s3://{settings.bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )


def test_reconcile_with_sagemaker(settings: Settings, tmp_path: Path) -> None:
    sm = aws.client(settings, "sagemaker")
    name = f"titanic-reconcile-{int(time.time() * 1000)}"
    _create_training_job(sm, settings, name)
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.create(target="aws", job_name=name)
    # Its worker is gone: SageMaker, asked before the reaper, has the job's real outcome.
    store.heartbeat(job.id, pid=999_999_9)
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    other, _ = store.create(target="aws", job_name="titanic-unknown-to-sagemaker")
    assert job_sync.reconcile_with_aws(store, sm) == [job.id]
    updated = store.get(job.id)
    assert updated.status == "Completed"
    assert updated.artifact_uri and updated.artifact_uri.startswith(f"s3://{settings.bucket}/out/")
    assert store.get(other.id).status == "Pending"


def test_reconcile_leaves_the_end_of_a_live_workers_job_to_the_worker(
    settings: Settings, tmp_path: Path
) -> None:
    """SageMaker says Completed while the worker still verifies and downloads: a reconcile then
    (the Jobs page, `jobs list`) must not finalise the job, or the worker's metrics are dropped."""
    sm = aws.client(settings, "sagemaker")
    name = f"titanic-live-{int(time.time() * 1000)}"
    _create_training_job(sm, settings, name)
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.create(target="aws", job_name=name)
    store.heartbeat(job.id, pid=os.getpid())  # this process is the worker, alive and beating
    store.set_status(job.id, "InProgress", secondary_status="Uploading")
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"
    assert job_sync.reconcile_with_aws(store, sm) == []
    assert store.get(job.id).status == "InProgress"
    # The worker's own final write, with what only it knows, lands.
    store.set_status(job.id, "Completed", secondary_status="Completed", validation_accuracy=0.84)
    assert store.get(job.id).validation_accuracy == 0.84


def test_sync_reconciles_on_aws_and_only_reaps_on_local(settings: Settings, tmp_path: Path) -> None:
    from dataclasses import replace

    aws_settings = replace(settings, target="aws", role_arn="arn:aws:iam::123456789012:role/x")
    name = f"titanic-sync-{int(time.time() * 1000)}"
    _create_training_job(aws.client(aws_settings, "sagemaker"), aws_settings, name)
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.create(target="aws", job_name=name)
    store.heartbeat(job.id, pid=1)
    assert job_sync.sync(settings, store) == []  # local: nothing to ask SageMaker
    assert store.get(job.id).status == "Pending"
    store.heartbeat(job.id, pid=999_999_9)  # the worker died, but SageMaker has the job
    aws_settings = replace(aws_settings, state_dir=tmp_path)  # where this store lives
    assert job_sync.sync(aws_settings, store) == [job.id]
    adopted = store.get(job.id)
    assert adopted.status == "Pending" and adopted.worker_pid not in (1, 999_999_9)
    # A new worker follows SageMaker's job to its end (here it has no image to verify against).
    deadline = time.monotonic() + 120
    while store.get(job.id).is_active and time.monotonic() < deadline:
        time.sleep(0.2)
    ended = store.get(job.id)
    assert not ended.is_active
    assert ended.training_job["TrainingJobStatus"] == "Completed"
    # moto wrote no model.tar.gz: the follower's verify says so, not a reaper's "worker died".
    assert ended.status == "Failed" and (ended.failure_reason or "").startswith("verify: "), ended


def test_reconcile_lists_only_jobs_created_since_the_oldest_active_one(tmp_path: Path) -> None:
    """An account's whole training history is not paged through on every Jobs page view."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.create(target="aws", job_name="titanic-recent")
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    since = dt.datetime.fromtimestamp(job.created_at - 3600, tz=dt.UTC)
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sm) as stub:
        # Stubber refuses a call whose parameters differ from these.
        stub.add_response("list_training_jobs", {"TrainingJobSummaries": []}, {"CreationTimeAfter": since})
        assert job_sync.reconcile_with_aws(store, sm) == []
        stub.assert_no_pending_responses()
