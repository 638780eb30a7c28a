"""The one refresh of the job store from SageMaker (DescribeTrainingJob parsed once, by
``training.follow.parse_training_job``): the jobs a poll or a command reads (``current_jobs``,
``watched_job``, ``running_job``) and ``sync``, which asks the training API about the target's
active jobs, adopts one whose worker is gone while its training job runs, and settles one whose
CreateTrainingJob was sent but not yet seen. The store itself (``services.jobs.store``) only
stores: its reads never write, and ``refresh`` is the one reap of dead workers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from services.jobs import store as job_store
from services.jobs.store import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobStore,
    refresh,
)
from services.processes import pid_alive
from services.training.follow import parse_training_job

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = [
    "CREATE_SETTLE_SECONDS",
    "active_jobs",
    "current_jobs",
    "reconcile_with_aws",
    "running_job",
    "sync",
    "watched_job",
    "worker_gone",
]


def _worker_alive(job: Job, is_alive: Callable[[int], bool], now: float) -> bool:
    """The job's worker runs and beats (the reaper's test, the other way round)."""
    if job.worker_pid is None or not is_alive(job.worker_pid):
        return False
    return job.heartbeat_at is None or now - job.heartbeat_at <= job_store.HEARTBEAT_TIMEOUT_SECONDS


def known_training_jobs(sagemaker: Any, jobs: Sequence[Job]) -> dict[str, str]:
    """The training jobs SageMaker lists among ``jobs`` (name → status); only those created since
    the oldest of them are listed, never an account's whole history."""
    if not jobs:
        return {}
    since = dt.datetime.fromtimestamp(min(j.created_at for j in jobs) - 3600, tz=dt.UTC)
    wanted = {j.job_name for j in jobs}
    known: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_training_jobs").paginate(CreationTimeAfter=since):
        for summary in page.get("TrainingJobSummaries", []):
            if summary["TrainingJobName"] in wanted:
                known[summary["TrainingJobName"]] = summary["TrainingJobStatus"]
    return known


def reconcile_with_aws(
    store: JobStore,
    sagemaker: Any,
    jobs: Sequence[Job] | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
) -> list[str]:
    """On the aws target, bring active stored jobs up to date from SageMaker; return the changed ids.

    ``list_training_jobs`` finds which stored jobs SageMaker knows; ``describe_training_job``
    then gives the secondary status, failure reason and billable time of each active one.

    SageMaker is asked before dead workers are reaped, so a job that finished while its worker
    was gone gets SageMaker's outcome. A job whose worker is alive gets SageMaker's progress but
    not its end: the worker records that itself, with the metrics, cost and download, and a
    terminal status written first would make the store drop the worker's final write.
    """
    listed = (
        jobs
        if jobs is not None
        else store.list(statuses=sorted(ACTIVE_STATUSES), targets=["aws"])  # by index
    )
    candidates = [j for j in listed if j.is_active]
    if not candidates:
        return []
    now = time.time()
    known = known_training_jobs(sagemaker, candidates)
    changed: list[str] = []
    for job in candidates:
        if job.job_name not in known:
            continue
        described = parse_training_job(sagemaker.describe_training_job(TrainingJobName=job.job_name))
        if described.status in TERMINAL_STATUSES and _worker_alive(job, is_alive, now):
            continue
        extra: dict[str, Any] = described.timings()
        if described.artifact_uri:
            extra["artifact_uri"] = described.artifact_uri
        updated = store.set_status(
            job.id,
            described.status,
            secondary_status=described.secondary_status,
            failure_reason=described.failure_reason,
            **extra,
        )
        if (updated.status, updated.secondary_status) != (job.status, job.secondary_status):
            changed.append(job.id)
    return changed


def sync(
    settings: Settings, store: JobStore | None = None, job_ids: Sequence[str] | None = None
) -> list[str]:
    """Bring the store up to date with the target's SageMaker API (SageMaker on aws, the local
    stack's training control plane on local). Returns the ids of jobs that changed. Call it before
    showing history; ``job_ids`` limits what is asked about to those jobs (a page's poll).

    A job whose worker died (a crash, a kill, a closed laptop) while SageMaker has its training
    job is adopted: a new worker follows it to its end and finishes verify and download, so the
    store, ``runs/`` and S3 agree. A job that never reached SageMaker is reaped as Failed. A job
    whose worker died after asking for CreateTrainingJob but before seeing it is asked about by
    name (DescribeTrainingJob: ListTrainingJobs is eventually consistent on AWS): adopted if the
    API has it, else recorded as never created.
    """
    from services import aws
    from services.training import launch

    store = store or JobStore(settings.job_store_path)
    # On aws the client comes first, whatever the store holds: a boto3 session with an unknown
    # profile fails at once, without a call, so a bad profile is one line on every sync. On local
    # nothing is needed while no job is active (the stack may be down).
    sagemaker = None if settings.is_local else aws.client(settings, "sagemaker")
    mine = active_jobs(settings, store)
    if job_ids is not None:
        wanted = set(job_ids)
        mine = [job for job in mine if job.id in wanted or job.job_name in wanted]
    if not mine:
        return refresh(store)
    if sagemaker is None:
        sagemaker = aws.client(settings, "sagemaker")
    now = time.time()
    followed = [job for job in mine if _worker_alive(job, pid_alive, now)]
    unfollowed = [job for job in mine if job not in followed]
    # A new worker reads the settings' own store: a job in another store can only be brought up
    # to date from SageMaker, not adopted.
    adoptable = store.path.resolve() == settings.job_store_path.resolve()
    if not adoptable:
        followed, unfollowed = mine, []
    # Unmarked jobs (recorded before the create mark existed) can only be found in the list.
    unmarked = [job for job in unfollowed if not job.training_job and job.create_requested_at is None]
    known = known_training_jobs(sagemaker, unmarked)
    changed = reconcile_with_aws(store, sagemaker, followed) if followed else []
    for job in unfollowed:
        if job.training_job or job.job_name in known:
            launch.adopt(settings, job.id)
            changed.append(job.id)
        elif job.create_requested_at is not None and _settle_requested_create(
            settings, store, sagemaker, job, now
        ):
            changed.append(job.id)
    changed += [job_id for job_id in refresh(store) if job_id not in changed]
    return changed


# A dead worker's CreateTrainingJob may still be on its way to the API (sent, never answered):
# its job is called never created only this long after the mark.
CREATE_SETTLE_SECONDS = 30.0


def _settle_requested_create(
    settings: Settings, store: JobStore, sagemaker: Any, job: Job, now: float
) -> bool:
    """A job whose worker asked for CreateTrainingJob and is gone before recording it: adopt it if
    the API has it, else record that it never got there. True when the job changed."""
    from botocore.exceptions import ClientError

    from services.training import follow, launch

    try:
        sagemaker.describe_training_job(TrainingJobName=job.job_name)
    except ClientError as exc:
        if not follow.job_is_unknown(exc):
            raise
    else:
        launch.adopt(settings, job.id)  # no second worker if a paused one holds the job
        return True
    requested = job.create_requested_at or now
    if now - requested < CREATE_SETTLE_SECONDS or follow.is_followed(settings, job.id):
        return False  # the request may still arrive, or a paused worker goes on with it
    pid = f" pid {job.worker_pid}" if job.worker_pid is not None else ""
    reason = (
        f"the worker{pid} died before SageMaker had training job {job.job_name}: "
        "DescribeTrainingJob finds no such job, so nothing ran"
    )
    final = "Stopped" if job.status == "Stopping" else "Failed"
    return store.set_status(job.id, final, message=reason, failure_reason=reason).status == final


def worker_gone(job: Job, now: float | None = None, is_alive: Callable[[int], bool] = pid_alive) -> bool:
    """Nobody runs the active job's stages any more: its worker's pid has exited, or it never got
    one within START_TIMEOUT_SECONDS. A live worker whose beats are late (paused) is not gone."""
    if not job.is_active:
        return False
    now = time.time() if now is None else now
    if job.worker_pid is None:
        return now - job.created_at > job_store.START_TIMEOUT_SECONDS
    return not is_alive(job.worker_pid)


def current_jobs(settings: Settings, job_ids: Sequence[str], store: JobStore | None = None) -> list[Job]:
    """The jobs as they are now, for a page's poll: a store read, and ``sync`` of those jobs only
    when one of them is active with its worker gone. While workers live the poll asks no API."""
    store = store or JobStore(settings.job_store_path)
    found = store.get_many(job_ids)
    if any(worker_gone(job) for job in found):
        sync(settings, store, job_ids=[job.id for job in found])
        found = store.get_many(job_ids)
    return found


def running_job(settings: Settings, store: JobStore | None = None) -> Job | None:
    """The newest job that has not ended, as it is now: what the Train page's one-at-a-time rule
    checks. Synced, like ``current_jobs``, only when its worker is gone."""
    store = store or JobStore(settings.job_store_path)

    def pick() -> Job | None:
        return next(iter(store.list(statuses=sorted(ACTIVE_STATUSES), limit=1)), None)

    return _fresh(settings, store, pick)


def watched_job(settings: Settings, launched: str | None = None, store: JobStore | None = None) -> Job | None:
    """The job a Train page shows, as it is now: the one this tab launched (``launched``), else the
    newest running one, else the newest, so a refresh shows the same job. Synced, like
    ``current_jobs``, only when its worker is gone (it is then adopted, or ended with the reason)."""
    store = store or JobStore(settings.job_store_path)

    def pick() -> Job | None:
        if launched:
            return store.get(launched)
        return next(iter(store.list(statuses=sorted(ACTIVE_STATUSES), limit=1)), None) or next(
            iter(store.list(limit=1)), None
        )

    return _fresh(settings, store, pick)


def _fresh(settings: Settings, store: JobStore, pick: Callable[[], Job | None]) -> Job | None:
    """The job ``pick`` names; when its worker is gone, synced and picked again."""
    job = pick()
    if job is not None and worker_gone(job):
        sync(settings, store, job_ids=[job.id])
        job = pick()
    return job


def active_jobs(settings: Settings, store: JobStore) -> list[Job]:
    """The settings' target's jobs that have not ended: all ``sync`` asks SageMaker about."""
    return store.list(targets=[settings.target], statuses=sorted(ACTIVE_STATUSES))
