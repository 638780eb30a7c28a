"""Launching a job: ``validate`` a request once, ``record_job`` it as Pending, and start its
detached worker (``launch``); ``adopt`` a job whose worker is gone, ``restart`` an ended one.

``launch(settings, request)`` never blocks: it records the job in the job store and starts
``python -m services worker --job-store STORE JOB_ID`` in a new session (its output goes to a file
under the state dir). The worker (``worker.run_worker``) runs the job's stages with the settings
stored with the job. ``titanic-sm run`` records its job here too and runs the stages in-process.

A launch carries a client-supplied request key: the same key (a refresh, a second tab, a double
click) returns the job already recorded instead of starting a second one."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services import processes
from services.instance import cost
from services.jobs.store import Job, JobStore
from services.settings import DEFAULT_MAX_RUN_SECONDS, Settings
from services.training import standby
from services.training.errors import StageError
from services.training.follow import describe, is_followed

if TYPE_CHECKING:
    from services.account.preflight import Report
    from services.training.estimator import FitRequest

__all__ = [
    "JobRequest",
    "LaunchRequest",
    "adopt",
    "can_restart",
    "job_settings",
    "launch",
    "record_job",
    "restart",
    "standby_log_path",
    "submission_key",
    "validate",
    "worker_log_path",
]

# Where this package lives: the worker runs `python -m services` from there.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LaunchRequest:
    """What the user asked for, as asked: ``validate`` turns it into the JobRequest a job runs."""

    channels: Mapping[str, str] | None = None  # None: not uploaded yet (`run`); given at record
    dataset_version: str | None = None
    instance_type: str | None = None  # None: settings.instance_type
    instance_reason: str | None = None  # why the recommendation was overridden, if it was
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    use_spot: bool = False
    max_run_seconds: int = DEFAULT_MAX_RUN_SECONDS
    max_wait_seconds: int | None = None
    request_key: str | None = None
    image_uri: str | None = None  # None: the worker builds and pushes (ensure_image)
    job_name: str | None = None  # None: a fresh unique name

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LaunchRequest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class JobRequest:
    """A launch request validated once (``validate``): its job name and instance type resolved,
    its hyperparameters the strings SageMaker gets. Stored with the job; the worker reads it back
    and adds only the image (``fit_request``), which is pinned where it becomes known."""

    job_name: str
    instance_type: str
    instance_count: int
    hyperparameters: Mapping[str, str]
    use_spot: bool
    max_run_seconds: int
    max_wait_seconds: int | None
    channels: Mapping[str, str] | None = None  # None until the data is uploaded (``with_data``)
    dataset_version: str | None = None
    instance_reason: str | None = None
    request_key: str | None = None
    image_uri: str | None = None  # pinned by digest, or None: the worker's image stage pins it

    def with_data(self, channels: Mapping[str, str], dataset_version: str | None) -> JobRequest:
        """The request with the channels ``run`` uploaded after it was validated (checked here)."""
        from services.training import estimator as training

        training.check_channels(channels)
        return replace(self, channels=dict(channels), dataset_version=dataset_version)

    def with_image(self, image_uri: str) -> JobRequest:
        """The request with the image ``run`` built after it was validated (checked here)."""
        from services.training import estimator as training

        training.check_image(image_uri)
        return replace(self, image_uri=image_uri)

    def fit_request(self, image_uri: str, tags: Mapping[str, str]) -> FitRequest:
        """The Estimator's request: this one, with the image its job trains and the job's tags."""
        from services.training import estimator as training

        return training.FitRequest(
            job_name=self.job_name,
            image_uri=image_uri,
            channels=dict(self.channels or {}),
            hyperparameters=dict(self.hyperparameters),
            instance_type=self.instance_type,
            instance_count=self.instance_count,
            use_spot=self.use_spot,
            max_run_seconds=self.max_run_seconds,
            max_wait_seconds=self.max_wait_seconds,
            tags=dict(tags),
        )

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["channels"] = dict(self.channels) if self.channels is not None else None
        values["hyperparameters"] = dict(self.hyperparameters)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> JobRequest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def of(cls, job: Job) -> JobRequest:
        """The validated request stored with ``job``."""
        return cls.from_dict(job.request.get("launch", {}))


def validate(settings: Settings, request: LaunchRequest) -> JobRequest:
    """The one check of a launch: every rule SageMaker would refuse it on (the channels and the
    image only once they are known) and the budget (max_job_cost_usd). Raises TrainingError or
    cost.BudgetExceededError with one line; returns the request to record."""
    from services.training import estimator as training

    asked = JobRequest(  # resolved, not checked yet
        job_name=request.job_name or training.job_name_for(settings.job_name_base),
        instance_type=request.instance_type or settings.instance_type,
        instance_count=settings.instance_count,
        hyperparameters=request.hyperparameters,
        use_spot=request.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
        instance_reason=request.instance_reason,
        request_key=request.request_key,
    )
    checked = replace(asked, hyperparameters=training.check_job(asked))  # as SageMaker gets them
    if request.channels is not None:
        checked = checked.with_data(request.channels, request.dataset_version)
    if request.image_uri is not None:
        checked = checked.with_image(request.image_uri)
    cost.check_budget(
        settings,
        checked.instance_type,
        spot=request.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
    )  # over max_job_cost_usd: refused
    return checked


def job_settings(job: Job) -> Settings | None:
    """The settings ``job`` was launched with, as its row stores them (None for a job recorded
    without them: imported, or from an older version)."""
    stored = job.request.get("settings")
    return Settings.from_record(stored) if stored else None


def record_job(
    settings: Settings, request: LaunchRequest | JobRequest, *, checked: Report | None = None
) -> tuple[Job, bool]:
    """Record the request as a Pending job (or return the one with its key), after the pre-flight
    checks. Every launch passes here (the dashboard's Launch, `run`, `train`).

    A LaunchRequest is validated here (``validate``); a JobRequest was validated by its caller
    (``run``, before its upload and build) and is not checked again. A failing pre-flight check
    raises ``preflight.PreflightError`` and records nothing. ``checked`` is the caller's own
    pre-flight report for this very request (``run`` and ``train`` check before they upload or
    build anything), so the checks run once per launch.
    """
    from services.account import preflight
    from services.training import estimator as training

    job_request = request if isinstance(request, JobRequest) else validate(settings, request)
    if job_request.channels is None:  # `run` adds them after its upload (with_data)
        raise training.TrainingError("the train channel is missing", code="training.no_train_channel")
    if checked is None:
        preflight.require_ready(
            settings,
            job_name=job_request.job_name,
            instance_type=job_request.instance_type,
            use_spot=job_request.use_spot,
            max_run_seconds=job_request.max_run_seconds,
            max_wait_seconds=job_request.max_wait_seconds,
            override_reason=job_request.instance_reason,
        )
    store = JobStore(settings.job_store_path)
    estimate = cost.estimate_or_none(
        settings, job_request.instance_type, job_request.use_spot, job_request.dataset_version
    )
    return store.create(
        target=settings.target,
        job_name=job_request.job_name,
        request_key=job_request.request_key,
        instance_type=job_request.instance_type,
        instance_reason=job_request.instance_reason,
        use_spot=job_request.use_spot,
        image_uri=job_request.image_uri,
        dataset_version=job_request.dataset_version,
        channels=dict(job_request.channels),
        hyperparameters=dict(job_request.hyperparameters),
        estimated_cost=estimate.usd if estimate is not None else None,
        request={"launch": job_request.to_dict(), "settings": settings.to_record()},
    )


def worker_log_path(settings: Settings, job_id: str) -> Path:
    return settings.state_dir / "workers" / f"{job_id}.log"


def launch(settings: Settings, request: LaunchRequest) -> str:
    """Check (pre-flight), record the job and start its detached worker; returns the job id
    without waiting for the job.

    A repeated request key returns the existing job without starting anything; a failing check
    raises ``preflight.PreflightError`` and starts nothing.
    """
    job, created = record_job(settings, request)
    if created:
        _spawn_worker(settings, job)
    return job.id


def adopt(settings: Settings, job_id: str) -> None:
    """Start a new worker for a job whose worker is gone: it follows the SageMaker job that is
    already there (never creating a second one) and finishes its stages."""
    store = JobStore(settings.job_store_path)
    job = store.get(job_id)
    if is_followed(settings, job.id):  # its worker lives (paused, or its beats are late): no second one
        return
    if not store.get(job.id).is_active:  # its follower finished just now
        return
    # SageMaker's record first: the new worker reads the image and the progress from it.
    job = store.update(job.id, training_job=dict(describe(settings, job.job_name).record))
    _spawn_worker(settings, job)


def _spawn_worker(settings: Settings, job: Job) -> None:
    """Start ``titanic-sm worker --job-store STORE JOB_ID`` in its own session.

    Settings cross to the worker one way: the job's row. The worker is told only where the store
    is and which job to run; it runs with the settings stored with the job (``job_settings``), so
    a worker, an adoption and a restart all replay exactly what was launched. A job recorded
    without them (imported, or from an older version) gets the caller's here, before the spawn.
    """
    store = JobStore(settings.job_store_path)
    if job_settings(job) is None:
        job = store.update(job.id, request={**job.request, "settings": settings.to_record()})
    log_path = worker_log_path(settings, job.id)
    env = {**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "PYTHONUNBUFFERED": "1"}
    store_path = settings.job_store_path.resolve()
    command = [sys.executable, "-m", "services", "worker", "--job-store", str(store_path)]
    # The store's warm standby takes the job when it is ready (the SDK already imported).
    pid = standby.hand_over(store_path, job.id, log_path, env) if settings.warm_worker else None
    if pid is None:
        pid = processes.spawn_detached([*command, job.id], env, log_path, PROJECT_ROOT)
    store.update(job.id, worker_pid=pid, heartbeat_at=time.time(), log_file=str(log_path))
    if settings.warm_worker:  # the next launch's standby
        with_stack = (
            ["--local-stack-dir", str(settings.local_stack_dir.resolve())] if settings.is_local else []
        )
        standby_command = [*command, "--standby", *with_stack]
        standby.start(store_path, standby_command, env, standby_log_path(settings), PROJECT_ROOT)


def standby_log_path(settings: Settings) -> Path:
    """Where standbys write until one takes a job (then it writes to that job's worker log)."""
    return settings.state_dir / "standby.log"


def submission_key(pending: str | None) -> str:
    """The request key of one submission of a launch form: the one still pending (a launch that
    was refused, failed or not answered keeps its key, so a double click or a resent form launches
    once), else a fresh one. The form forgets it once a launch with it is recorded."""
    return pending or uuid.uuid4().hex


def can_restart(job: Job) -> bool:
    """``restart`` can launch the job's request again: it ended unsuccessfully and its request
    is stored with it (an imported job has none)."""
    return job.status in ("Failed", "Stopped") and bool(job.request.get("launch"))


def restart(settings: Settings, job_id: str) -> str:
    """Launch a finished (e.g. crashed) job's request again, as a new job; returns its id."""
    store = JobStore(settings.job_store_path)
    old = store.get(job_id)
    if old.is_active:
        raise StageError(
            "restart",
            f"job {old.job_name} is still {old.status}; stop it first",
            code="job.still_running",
            values={"job": old.job_name, "status": old.status},
        )
    request = LaunchRequest.from_dict(old.request.get("launch", {}))
    again = replace(request, request_key=None, job_name=None)
    return launch(job_settings(old) or settings, again)
