"""Stopping a job, on either target: StopTrainingJob, or (before its SageMaker job exists) its
worker asked to stop with SIGTERM; and, for a run that is itself interrupted, stopping its training
job and waiting until SageMaker reports it ended."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from services import processes
from services.jobs import store as job_store
from services.jobs.store import Job, JobStore
from services.settings import Settings
from services.training.errors import StageError
from services.training.follow import POLL_SECONDS, describe, job_is_unknown

__all__ = [
    "STOP_GRACE_SECONDS",
    "STOP_WAIT_SECONDS",
    "stop",
    "stop_and_wait",
]

# How long an interrupted run waits for StopTrainingJob to take effect (SageMaker's SIGTERM grace
# is 120 s, after which it kills the container).
STOP_WAIT_SECONDS = 150.0


# A worker asked to stop before its SageMaker job exists (the image stage) gets this long.
STOP_GRACE_SECONDS = 20.0


def stop(settings: Settings, job_id: str) -> Job:
    """Stop a job, on either target: StopTrainingJob, and its worker's poll records Stopped.

    Before its SageMaker job exists (the image stage) there is nothing to stop there, so the
    worker itself is asked to stop (SIGTERM) and records Stopped. Returns the job as it is now.
    """
    from botocore.exceptions import ClientError

    from services import aws

    store = JobStore(settings.job_store_path)
    job = store.get(job_id)
    if not job.is_active:
        _stop_if_still_running(settings, job)
        return job
    if job.status == "Stopping":  # already asked
        return job
    if not job.training_job and job.create_requested_at is None:
        # CreateTrainingJob not sent yet (the image stage): the worker stops itself.
        return _stop_worker(store, job)
    try:
        # Asked before it is recorded: a refused or failed call leaves the job as it was, so the
        # stop can be tried again (a job recorded Stopping is never asked twice). A job whose
        # CreateTrainingJob was sent but not yet seen is asked too: its worker may have died
        # in between, and the API may run it all the same (``jobs.sync`` then adopts it).
        aws.client(settings, "sagemaker").stop_training_job(TrainingJobName=job.job_name)
    except ClientError as exc:
        if not job_is_unknown(exc):
            raise
        # Unknown there: a live worker stops itself (and the job, if it creates it meanwhile);
        # a dead one's job never ran, and is recorded Stopped.
        return _stop_worker(store, job)
    return store.set_status(job.id, "Stopping", secondary_status="Stopping", message="stop requested")


def _stop_if_still_running(settings: Settings, job: Job) -> None:
    """A job the store has ended but its training API still runs (its worker died in the instant
    between CreateTrainingJob and recording it, or a record was reaped wrongly): StopTrainingJob
    there too, so no container outlives its record. The record itself stays as it is."""
    from botocore.exceptions import BotoCoreError, ClientError

    from services import aws
    from services.errors import TitanicError

    try:
        if describe(settings, job.job_name).status == "InProgress":
            aws.client(settings, "sagemaker").stop_training_job(TrainingJobName=job.job_name)
    except (ClientError, BotoCoreError, TitanicError):
        return  # unknown there (never created), already ending, or a stack that is down runs nothing


def _stop_worker(store: JobStore, job: Job) -> Job:
    """SIGTERM the job's worker, which records Stopped; SIGKILL it if it does not end in time."""
    stopping = store.set_status(job.id, "Stopping", secondary_status="Stopping", message="stop requested")
    pid = job.worker_pid
    if pid is None or not processes.pid_alive(pid) or not _signal_worker(pid, signal.SIGTERM):
        return store.set_status(job.id, "Stopped", secondary_status="Stopped", message="stopped by the user")
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while processes.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if processes.pid_alive(pid):
        _signal_worker(pid, signal.SIGKILL)
        return store.set_status(job.id, "Stopped", secondary_status="Stopped", message="stopped by the user")
    return store.get(stopping.id)


def _signal_worker(pid: int, sig: signal.Signals) -> bool:
    """Signal a job's worker, and its children only where it leads its own process group.

    A spawned worker leads its own session, so the group signal reaches its children too. A
    foreground `titanic-sm run` shares its terminal's group, so only that process is signalled
    (its handler stops the job). Never init, this process, or this process's own group: a
    recycled or planted pid must not take the caller (or a CI run) down with it. False when
    the pid is one of those, or is gone.
    """
    if pid <= 1 or pid == os.getpid():
        return False
    try:
        if os.getpgid(pid) == pid and pid != os.getpgrp():
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_and_wait(settings: Settings, store: JobStore, job: Job, why: str) -> None:
    """StopTrainingJob, then wait (up to STOP_WAIT_SECONDS) until SageMaker reports it ended.

    Used when the run itself is interrupted (Ctrl-C, or SIGTERM to a worker), so the job never
    runs on, billing, while the store says it stopped."""
    from botocore.exceptions import BotoCoreError, ClientError

    from services import aws

    store.set_status(job.id, "Stopping", secondary_status="Stopping", message=why)
    try:
        aws.client(settings, "sagemaker").stop_training_job(TrainingJobName=job.job_name)
    except ClientError as exc:
        if not job_is_unknown(exc) and not _job_has_ended(exc):
            raise
    except BotoCoreError:
        raise
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            described = describe(settings, job.job_name)
        except ClientError as exc:
            if job_is_unknown(exc):  # never created: nothing runs
                return
            raise
        if described.status in job_store.TERMINAL_STATUSES:
            store.update(job.id, training_job=dict(described.record))
            return
        time.sleep(POLL_SECONDS[0])
    raise StageError(
        "stop",
        f"job {job.job_name} did not stop within {STOP_WAIT_SECONDS:.0f} s; it is still Stopping",
        code="job.did_not_stop",
        values={"job": job.job_name, "seconds": STOP_WAIT_SECONDS},
    )


def _job_has_ended(exc: Any) -> bool:
    """StopTrainingJob on a job that already ended: SageMaker refuses it with a ValidationException."""
    error = exc.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") == "ValidationException" and any(
        word in message for word in ("completed", "failed", "stopped", "already")
    )
