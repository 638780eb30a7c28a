"""Training jobs outside the caller: ``launch`` records a job and starts a detached worker.

``launch(settings, request)`` never blocks: it records the job as Pending in the job store and
starts ``python -m services worker JOB_ID`` in a new session (its output goes to a file under
the state dir). The worker runs the job's stages (``run_job``: image → fit → verify → download)
and writes each transition and a heartbeat into the store, and the log lines into CloudWatch.
``titanic-sm run`` runs the same ``run_job`` in-process.

A launch carries a client-supplied request key: the same key (a refresh, a second tab, a double
click) returns the job already recorded instead of starting a second one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.errors import TitanicError
from services.jobs import store as job_store
from services.jobs.store import Job, JobStore
from services.settings import DEFAULT_MAX_RUN_SECONDS, Progress, Settings

if TYPE_CHECKING:
    from services.account.preflight import Report

__all__ = [
    "API_UNREACHABLE_SECONDS",
    "HEARTBEAT_SECONDS",
    "JobAlreadyFollowedError",
    "JobFailedError",
    "JobOutcome",
    "JobRequest",
    "JobStoppedError",
    "LaunchRequest",
    "MaxRuntimeExceededError",
    "Progress",
    "StageError",
    "TrainingApiUnreachableError",
    "adopt",
    "cost_basis",
    "is_followed",
    "job_is_unknown",
    "job_settings",
    "launch",
    "preload_sdk",
    "record_job",
    "restart",
    "run_job",
    "run_worker",
    "stop",
    "stop_on_sigterm",
    "validate",
    "worker_log_path",
]

HEARTBEAT_SECONDS = 5.0
# DescribeTrainingJob: the first interval, and the longest it backs off to while nothing changes.
POLL_SECONDS = (0.5, 10.0)
# The poll stays at the first interval until the job has been unchanged this long: a short job's
# end is seen within 0.5 s (a back-off from the start saw a 4 s Training phase end 2-4 s late).
POLL_BACKOFF_AFTER_SECONDS = 30.0
# How long an interrupted run waits for StopTrainingJob to take effect (SageMaker's SIGTERM grace
# is 120 s, after which it kills the container).
STOP_WAIT_SECONDS = 150.0
# A worker asked to stop before its SageMaker job exists (the image stage) gets this long.
STOP_GRACE_SECONDS = 20.0
# How long a follower keeps asking a training API it cannot reach (the local control plane or moto
# restarting, a network blip, a laptop waking up) before it gives up. The job is then unknown for
# now, not Failed: it stays active, and the next reader's ``jobs.sync`` adopts it.
API_UNREACHABLE_SECONDS = 300.0
# Where this package lives: the worker runs `python -m services` from there.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class StageError(TitanicError, RuntimeError):
    """A stage failed; ``str()`` is one line naming the stage and the cause."""

    def __init__(
        self,
        stage: str,
        cause: str,
        *,
        code: str | None = None,
        values: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{stage}: {cause}", code=code, values=values, hint=hint)
        self.stage = stage
        self.step = stage
        self.cause = cause

    @classmethod
    def wrapping(cls, stage: str, exc: BaseException, cause: str | None = None) -> StageError:
        """``exc`` as the failure of ``stage``, keeping its code, values and hint (so the
        catalogue can still word it) and, for a user error, its exit code."""
        from services.errors import code_of, hint_of, values_of

        text = cause if cause is not None else (" ".join(str(exc).split()) or type(exc).__name__)
        error = cls(stage, text, code=code_of(exc), values=values_of(exc), hint=hint_of(exc) or None)
        error.exit_code = getattr(exc, "exit_code", 1) if isinstance(exc, TitanicError) else 1
        return error


class JobFailedError(StageError):
    """The training job itself failed; ``cause`` is the container's failure reason."""


class JobStoppedError(StageError):
    """The job was stopped by the user (the dashboard's Stop, `jobs stop`, SIGTERM or Ctrl-C);
    ``by_signal`` when SIGTERM reached this very run."""

    def __init__(self, stage: str, cause: str, by_signal: bool = False) -> None:
        super().__init__(stage, cause)
        self.by_signal = by_signal


class MaxRuntimeExceededError(StageError):
    """The job ran past max_run (or, on spot, max_wait); like SageMaker, it ends Stopped with
    ``secondary_status`` MaxRuntimeExceeded (or MaxWaitTimeExceeded)."""

    def __init__(
        self,
        stage: str,
        cause: str,
        secondary_status: str = "MaxRuntimeExceeded",
        *,
        code: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(stage, cause, code=code, values=values)
        self.secondary_status = secondary_status


class JobAlreadyFollowedError(StageError):
    """Another live process runs this job's stages; nothing was recorded."""


class TrainingApiUnreachableError(StageError):
    """The training API did not answer for ``API_UNREACHABLE_SECONDS``: the job's outcome is not
    known, so nothing terminal is recorded (``jobs.sync`` adopts the job once the API is back)."""


class _StopRequested(BaseException):
    """The job was stopped: SIGTERM reached the run (``by_signal``), or the training API reports it
    Stopped (the dashboard's Stop, `jobs stop` from another terminal)."""

    def __init__(self, by_signal: bool = True) -> None:
        super().__init__()
        self.by_signal = by_signal


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

    def fit_request(self, image_uri: str, tags: Mapping[str, str]) -> Any:
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
    from services.instance import cost
    from services.training import estimator as training

    instance_type = request.instance_type or settings.instance_type
    job_name = request.job_name or training.job_name_for(settings.job_name_base)
    sent = training.check_job(
        job_name=job_name,
        hyperparameters=request.hyperparameters,
        instance_type=instance_type,
        use_spot=request.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
    )
    checked = JobRequest(
        job_name=job_name,
        instance_type=instance_type,
        instance_count=settings.instance_count,
        hyperparameters=sent,
        use_spot=request.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
        instance_reason=request.instance_reason,
        request_key=request.request_key,
    )
    if request.channels is not None:
        checked = checked.with_data(request.channels, request.dataset_version)
    if request.image_uri is not None:
        checked = checked.with_image(request.image_uri)
    cost.check_budget(
        settings,
        instance_type,
        spot=request.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
    )  # over max_job_cost_usd: refused
    return checked


@dataclass(frozen=True)
class JobOutcome:
    job: Job
    local_path: Path | None
    metrics: dict[str, Any]
    seconds: dict[str, float]


def job_settings(job: Job) -> Settings | None:
    """The settings ``job`` was launched with, as its row stores them (None for a job recorded
    without them: imported, or from an older version)."""
    stored = job.request.get("settings")
    return Settings.from_record(stored) if stored else None


def _price(settings: Settings, instance_type: str, use_spot: bool) -> tuple[float, str] | None:
    """The hourly price from the instance service: live on aws (the snapshot when the API is
    denied or unreachable), the snapshot on local; spot without a spot product is the on-demand rate."""
    from services.instance import instances

    quote = instances.price_quote(settings, instance_type, use_spot)
    return (quote.usd_per_hour, f"{quote.source}, {quote.fetched}") if quote is not None else None


def _estimate(
    settings: Settings, instance_type: str, use_spot: bool, dataset_version: str | None = None
) -> Any:
    """cost.estimate_job's figure (last comparable job, else the probe), or None when unknown."""
    from services.instance import cost

    try:
        return cost.estimate_job(settings, instance_type, spot=use_spot, dataset_version=dataset_version)
    except Exception:  # no price or no duration yet: the launch goes on, the estimate is "unknown"
        return None


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
    estimate = _estimate(
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


def _follower_lock_path(settings: Settings, job_id: str) -> Path:
    # Never removed: unlinking a lock file another process may be opening would split the lock.
    return settings.state_dir / "follower-locks" / f"{job_id}.lock"


@contextlib.contextmanager
def _following(settings: Settings, job_id: str) -> Iterator[None]:
    """Hold the job's follower lock while this process runs the job's stages.

    The kernel drops an flock when its holder dies, however it dies, and keeps it while the holder
    is paused (SIGSTOP, a frozen VM): so a lock that is held means a live follower, whatever its
    heartbeat says, and a second follower (an adoption racing a paused worker that wakes up, two
    readers adopting at once) never runs the same job twice."""
    path = _follower_lock_path(settings, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobAlreadyFollowedError(
                "follow",
                f"job {job_id} is already followed by a live process (paused, perhaps)",
                code="job.already_followed",
                values={"job": job_id},
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_followed(settings: Settings, job_id: str) -> bool:
    """A live process (running or paused) holds the job's follower lock."""
    try:
        with _following(settings, job_id):
            return False
    except JobAlreadyFollowedError:
        return True


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
    job = store.update(job.id, training_job=dict(_describe(settings, job.job_name).record))
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
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "PYTHONUNBUFFERED": "1"}
    store_path = str(settings.job_store_path.resolve())
    command = [sys.executable, "-m", "services", "worker", "--job-store", store_path, job.id]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the caller (a Streamlit rerun, a closed terminal)
            cwd=PROJECT_ROOT,
            env=env,
        )
    store.update(job.id, worker_pid=process.pid, heartbeat_at=time.time(), log_file=str(log_path))
    # Reap the child when it exits, so a long-lived caller never keeps a zombie.
    threading.Thread(target=process.wait, name=f"reap-{job.id}", daemon=True).start()


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
        if _describe(settings, job.job_name).status == "InProgress":
            aws.client(settings, "sagemaker").stop_training_job(TrainingJobName=job.job_name)
    except (ClientError, BotoCoreError, TitanicError):
        return  # unknown there (never created), already ending, or a stack that is down runs nothing


def _stop_worker(store: JobStore, job: Job) -> Job:
    """SIGTERM the job's worker, which records Stopped; SIGKILL it if it does not end in time."""
    stopping = store.set_status(job.id, "Stopping", secondary_status="Stopping", message="stop requested")
    pid = job.worker_pid
    if pid is None or not job_store.pid_alive(pid) or not _signal_worker(pid, signal.SIGTERM):
        return store.set_status(job.id, "Stopped", secondary_status="Stopped", message="stopped by the user")
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while job_store.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if job_store.pid_alive(pid):
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


@contextlib.contextmanager
def _heartbeat(store: JobStore, job_id: str) -> Iterator[None]:
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):  # a busy store must not kill the job; next beat retries
                store.heartbeat(job_id, os.getpid())

    store.heartbeat(job_id, os.getpid())
    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def _timed(seconds: dict[str, float], stage: str, progress: Progress | None) -> Callable[[], None]:
    started = time.monotonic()
    if progress is not None:
        progress(stage, "started")

    def finish() -> None:
        seconds[stage] = time.monotonic() - started
        if progress is not None:
            progress(stage, f"done in {seconds[stage]:.1f} s")

    return finish


_sdk_preload: threading.Thread | None = None


def preload_sdk() -> None:
    """Import the SageMaker SDK (about 3 s of CPU) in a background thread, so it loads while
    this process waits on other work (the image stage's registry and Docker calls, the data
    upload); ``_fit`` waits for it before it builds the Estimator. Called by whoever runs a job,
    never at import time. An import error is left to the real import, which reports it."""
    global _sdk_preload
    if _sdk_preload is not None or "sagemaker.estimator" in sys.modules:
        return
    # boto3 and botocore first, in this thread: the two threads then share no module being loaded.
    from services import aws  # noqa: F401 (imported for its side effect of loading boto3)

    def load() -> None:
        os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        with contextlib.suppress(Exception):
            import sagemaker.estimator  # noqa: F401 (loaded for the later import)

    _sdk_preload = threading.Thread(target=load, name="sagemaker-preload", daemon=True)
    _sdk_preload.start()


def _wait_for_sdk() -> None:
    if _sdk_preload is not None:
        _sdk_preload.join()


def run_job(
    settings: Settings,
    job_id: str,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
) -> JobOutcome:
    """Run a recorded job's stages: image → fit → verify → download. Records every transition.

    ``progress(stage, message)`` reports each stage; ``echo(line)`` receives the container's log
    lines as they come (they also go to CloudWatch Logs). Raises StageError (or JobFailedError)
    after recording the job as Failed.
    """
    preload_sdk()
    store = JobStore(settings.job_store_path)
    job = store.get(job_id)
    # Whoever runs the stages (a worker, or `titanic-sm run` in-process) beats, so readers can
    # tell a live run from a dead one.
    with _following(settings, job.id), _heartbeat(store, job.id), _sigterm_stops_job():
        return _run_stages(settings, store, job, progress, echo)


def _run_stages(
    settings: Settings,
    store: JobStore,
    job: Job,
    progress: Progress | None,
    echo: Callable[[str], None] | None,
) -> JobOutcome:
    seconds: dict[str, float] = {}
    stage = "image"
    try:
        if job.status == "Pending":  # an adopted job is past this and keeps its secondary status
            store.set_status(job.id, "InProgress", secondary_status="Starting", message="worker started")
        # An adopted job trains the image its SageMaker job was created with.
        image_uri = job.image_uri or job.training_job.get("AlgorithmSpecification", {}).get("TrainingImage")
        if not image_uri:
            from services.image import images

            done = _timed(seconds, "image", progress)
            ref = images.ensure_image(settings, progress)
            image_uri = ref.uri_with_digest
            seconds.update({f"image.{k}": v for k, v in ref.seconds.items()})
            store.update(job.id, image_uri=image_uri)
            done()
        job = store.get(job.id)
        stage = "fit"
        done = _timed(seconds, "fit", progress)
        artifact_uri = _fit(settings, store, job, image_uri, echo)
        done()
        stage = "verify"
        done = _timed(seconds, "verify", progress)
        store.update(job.id, artifact_uri=artifact_uri)
        from services.results import artifacts

        metrics, data = artifacts.fetch_verified(settings, artifact_uri, job.hyperparameters)
        artifacts.record_trusted_model(settings, store, job, artifact_uri, data)  # predict's trust
        done()
        stage = "download"
        done = _timed(seconds, "download", progress)
        summary = {
            "target": settings.target,
            "region": settings.region,
            "bucket": settings.bucket,
            "repository": settings.repository,
            "image": image_uri,
            "channels": dict(job.channels),
            "instance_type": job.instance_type,
            "instance_reason": job.instance_reason,
            "use_spot": job.use_spot,
            "dataset_version": job.dataset_version,
            "stage_seconds": dict(seconds),
        }
        run = artifacts.save_run(
            settings, job.job_name, artifact_uri, data, metrics, job.hyperparameters, summary=summary
        )
        results: dict[str, Any] = {
            **artifacts.headline_scores(run.metrics),
            **_actual_cost(settings, store.get(job.id), seconds.get("fit", 0.0)),
        }
        final = store.set_status(
            job.id,
            "Completed",
            secondary_status="Completed",
            metrics=run.metrics,
            local_path=str(run.local_path),
            training_job={**store.get(job.id).training_job, **_peak_memory(settings, job)},
            **results,
        )
        done()
        _add_cost_to_run(run.run_manifest, final)
        return JobOutcome(final, run.local_path, run.metrics, seconds)
    except _StopRequested as stop:
        _signalled.clear()  # handled: the follow loop must not raise it again
        if stage == "fit":  # SIGTERM to the worker while its job runs: stop the job itself too
            _stop_and_wait(settings, store, job, "stop requested")
        store.set_status(job.id, "Stopped", secondary_status="Stopped", message="stopped by the user")
        raise JobStoppedError(stage, "stopped by the user", by_signal=stop.by_signal) from None
    except KeyboardInterrupt:  # Ctrl-C on `titanic-sm run`: the job must not run on, billing
        _signalled.clear()
        if stage == "fit":
            _stop_and_wait(settings, store, job, "interrupted (Ctrl-C)")
        store.set_status(job.id, "Stopped", secondary_status="Stopped", message="interrupted")
        raise
    except TrainingApiUnreachableError:
        raise  # unknown for now, not Failed: the job stays active for sync to adopt
    except MaxRuntimeExceededError as exc:
        store.set_status(
            job.id,
            "Stopped",
            secondary_status=exc.secondary_status,
            failure_reason=str(exc),
            message=str(exc),
        )
        raise
    except StageError as exc:
        _record_failure(store, job.id, str(exc))
        raise
    except Exception as exc:
        error = StageError.wrapping(stage, exc)
        _record_failure(store, job.id, str(error))
        raise error from exc


def _peak_memory(settings: Settings, job: Job) -> dict[str, float]:
    """The job's peak MemoryUtilization (percent of its instance's memory) from CloudWatch: each job
    is a proof that its instance type fits. Empty when no datapoint is there (yet)."""
    from services.jobs import detail as job_detail

    try:
        # The stored job: its transitions bound the window the metrics are read in.
        series = job_detail.resource_series(settings, JobStore(settings.job_store_path).get(job.id))
    except Exception:  # evidence, not the job: a refused or missing metric never fails a run
        return {}
    if series.peak_memory_percent is None:
        return {}
    return {"PeakMemoryUtilization": float(series.peak_memory_percent)}


def cost_basis(job: Job) -> str:
    """How the job's actual cost was reached (for run.json and the run summary)."""
    if job.billable_seconds is not None:
        return "billable seconds" if job.target == "aws" else "billable seconds (local control plane)"
    return "fit wall time priced as the instance"


def _add_cost_to_run(manifest: Path, job: Job) -> None:
    """run.json gets the cost too (known only once the job is recorded Completed)."""
    import json

    document = json.loads(manifest.read_text())
    document["cost"] = {
        "estimated_usd": job.estimated_cost,
        "actual_usd": job.actual_cost,
        "spot_savings": job.spot_savings,
        "basis": cost_basis(job),
    }
    document["status"] = job.status
    manifest.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def _record_failure(store: JobStore, job_id: str, reason: str) -> None:
    current = store.get(job_id)
    if current.status == "Stopping":  # the failure is the stop's doing
        store.set_status(job_id, "Stopped", secondary_status="Stopped", message=reason)
    else:
        store.set_status(job_id, "Failed", secondary_status="Failed", failure_reason=reason, message=reason)


def _fit(
    settings: Settings, store: JobStore, job: Job, image_uri: str, echo: Callable[[str], None] | None
) -> str:
    """CreateTrainingJob through ``Estimator.fit(wait=False)``, then follow the job to its end;
    return the S3 URI of model.tar.gz. The same calls on both targets: on local the SageMaker API
    is the local stack's training control plane."""
    from botocore.exceptions import ClientError

    from services.training import estimator as training

    try:
        _describe(settings, job.job_name)  # an adopted job: its training job is already there
    except ClientError as exc:
        if not job_is_unknown(exc):
            raise
        _wait_for_sdk()
        tags = {"project": "titanic-sm", "titanic-sm-job-id": job.id, "titanic-sm-target": settings.target}
        request = JobRequest.of(job).fit_request(image_uri, tags)
        # From here until _follow records ``training_job`` only the API knows whether the job
        # exists: the mark tells the reaper to leave a dead worker's job to ``jobs.sync``.
        store.update(job.id, create_requested_at=time.time())
        training.start_fit(settings, request)
    return _follow(settings, store, job, echo)


# SageMaker's secondary status when it stopped a job at a limit, not at the user's request.
_SAGEMAKER_LIMITS = {
    "MaxRuntimeExceeded": "max_run (MaxRuntimeInSeconds)",
    "MaxWaitTimeExceeded": "max_wait (MaxWaitTimeInSeconds)",
}


def _describe(settings: Settings, job_name: str) -> job_store.TrainingJobState:
    from services import aws

    described = aws.client(settings, "sagemaker").describe_training_job(TrainingJobName=job_name)
    return job_store.parse_training_job(described)


def _is_transient(exc: BaseException) -> bool:
    """An error that says nothing about the job: the API is unreachable, restarting or overloaded."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    from services.local.stack import LocalStackError

    if isinstance(exc, BotoConnectionError | HTTPClientError | LocalStackError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code", "")
        return int(status) >= 500 or code in ("ThrottlingException", "Throttling", "ServiceUnavailable")
    return False


def _keep_stack_up(settings: Settings) -> None:
    """On local, the follower is the edge that needs the stack for the job's whole life: a service
    that died mid-job (a crash, a kill) is started again here, explicitly, as `local up` would;
    clients never start anything. A stack that cannot start leaves the API unreachable, which
    ``_describe_patiently`` reports once its patience is spent."""
    if not settings.is_local:
        return
    from services.local import stack as local_stack

    try:
        local_stack.running_endpoints(settings)  # a file read and /proc: cheap enough per poll
    except local_stack.LocalStackError:
        with contextlib.suppress(local_stack.LocalStackError):
            local_stack.ensure_running(settings)


def _describe_patiently(settings: Settings, job_name: str) -> job_store.TrainingJobState:
    """DescribeTrainingJob, asked again while the API is unreachable (up to API_UNREACHABLE_SECONDS).

    A follower that cannot reach the API knows nothing of the job's end, so it never records one:
    past the limit it raises TrainingApiUnreachableError and the job stays active."""
    deadline = time.monotonic() + API_UNREACHABLE_SECONDS
    pause = POLL_SECONDS[0]
    while True:
        try:
            return _describe(settings, job_name)
        except Exception as exc:
            if not _is_transient(exc):
                raise
            if time.monotonic() >= deadline:
                cause = " ".join(str(exc).split())
                raise TrainingApiUnreachableError(
                    "fit",
                    f"the training API did not answer for {API_UNREACHABLE_SECONDS:.0f} s "
                    f"({cause}); job {job_name} is unknown for now, not failed",
                    code="job.api_unreachable",
                    values={"seconds": API_UNREACHABLE_SECONDS, "cause": cause, "job": job_name},
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, POLL_SECONDS[1])
            _keep_stack_up(settings)


def _record_progress(store: JobStore, job: Job, described: job_store.TrainingJobState, seen: int) -> int:
    """Record the secondary transitions not seen yet, at SageMaker's own times; return the count.

    Terminal ones are left to the end of the run, which records them with the outcome."""
    transitions = described.transitions
    for transition in transitions[seen:]:
        secondary = transition.get("Status")
        if secondary in job_store.TERMINAL_STATUSES or secondary in _SAGEMAKER_LIMITS:
            continue
        current = store.get(job.id)
        started: Any = transition.get("StartTime")  # a datetime from boto3
        store.set_status(
            job.id,
            "Stopping" if current.status == "Stopping" or secondary == "Stopping" else "InProgress",
            secondary_status=secondary,
            message=transition.get("StatusMessage"),
            at=started.timestamp() if hasattr(started, "timestamp") else None,
        )
    return len(transitions)


def _follow(settings: Settings, store: JobStore, job: Job, echo: Callable[[str], None] | None) -> str:
    """Follow DescribeTrainingJob until the job ends, recording its transitions and handing its
    CloudWatch log lines to ``echo``. Polls fast while the job changes, then backs off."""
    from services.training import logs

    token: str | None = None
    seen = 0
    interval = POLL_SECONDS[0]
    changed_at = time.monotonic()

    def echo_new_lines() -> None:
        nonlocal token
        if echo is None:
            return
        try:
            page = logs.read_events(settings, job.job_name, token)
        except Exception as exc:  # the Logs API restarting: the lines come with the next poll
            if not _is_transient(exc):
                raise
            return
        token = page.next_token
        for event in page.events:
            echo(event.message)

    while True:
        _raise_if_signalled()
        _keep_stack_up(settings)
        echo_new_lines()
        described = _describe_patiently(settings, job.job_name)
        changed = len(described.transitions) != seen or not seen
        if changed:  # the store keeps SageMaker's view; it also marks the job as created there
            store.update(job.id, training_job=dict(described.record))
        seen = _record_progress(store, job, described, seen)
        if described.status in job_store.TERMINAL_STATUSES:
            break
        time.sleep(interval)
        if changed:
            changed_at = time.monotonic()
        quiet = time.monotonic() - changed_at >= POLL_BACKOFF_AFTER_SECONDS
        interval = min(interval * 1.5, POLL_SECONDS[1]) if quiet else POLL_SECONDS[0]
    echo_new_lines()  # the last lines land before the job is reported ended
    _raise_if_signalled()
    return _outcome(store, job, described)


def _outcome(store: JobStore, job: Job, described: job_store.TrainingJobState) -> str:
    """Record what SageMaker reports of the ended job; return model.tar.gz's URI if it completed."""
    status, secondary = described.status, described.secondary_status
    store.update(
        job.id,
        training_seconds=described.training_seconds,
        billable_seconds=described.billable_seconds,
        training_job=dict(described.record),
    )
    if status == "Stopped" and secondary in _SAGEMAKER_LIMITS:
        limit = _SAGEMAKER_LIMITS[secondary]
        raise MaxRuntimeExceededError(
            "fit",
            f"job {job.job_name} ran longer than {limit} and SageMaker stopped it",
            secondary,
            code="job.ran_too_long",
            values={"job": job.job_name, "limit": limit},
        )
    if status == "Stopped":
        raise _StopRequested(by_signal=False)
    if status == "Failed":
        reason = described.failure_reason or "no failure reason given"
        raise JobFailedError(
            "fit",
            f"job {job.job_name} failed: {reason}",
            code="job.failed",
            values={"job": job.job_name, "reason": reason},
        )
    artifact = described.artifact_uri
    if not artifact:
        raise StageError(
            "verify",
            f"job {job.job_name} completed without a model artifact",
            code="job.no_artifact",
            values={"job": job.job_name},
        )
    return str(artifact)


def _stop_and_wait(settings: Settings, store: JobStore, job: Job, why: str) -> None:
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
            described = _describe(settings, job.job_name)
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


def job_is_unknown(exc: Any) -> bool:
    """SageMaker's answer for a job name it has no record of (not created yet)."""
    error = exc.response.get("Error", {})
    return error.get("Code") in ("ResourceNotFound", "ValidationException") and "not found" in str(
        error.get("Message", "")
    ).lower().replace("could not find", "not found")


def _job_has_ended(exc: Any) -> bool:
    """StopTrainingJob on a job that already ended: SageMaker refuses it with a ValidationException."""
    error = exc.response.get("Error", {})
    message = str(error.get("Message", "")).lower()
    return error.get("Code") == "ValidationException" and any(
        word in message for word in ("completed", "failed", "stopped", "already")
    )


def _actual_cost(settings: Settings, job: Job, fit_seconds: float) -> dict[str, float | None]:
    """Billable seconds x price (SageMaker's, or the local control plane's); the fit's wall time
    when no billable time is known."""
    from services.instance import cost

    price = _price(settings, job.instance_type or settings.instance_type, job.use_spot)
    if price is None:
        return {}
    if job.billable_seconds is not None:
        actual = cost.actual(
            job.billable_seconds,
            price[0],
            settings.instance_count,
            training_seconds=job.training_seconds,
            spot=job.use_spot,
        )
    else:
        actual = cost.local_equivalent(fit_seconds, price[0], settings.instance_count)
    return {"actual_cost": actual.usd, "spot_savings": actual.spot_savings}


# Python drops an exception raised while a finalizer (`__del__`) runs ("Exception ignored in"),
# so a Ctrl-C or SIGTERM delivered there would be lost and the job run on. The handlers note
# each signal; the follow loop raises it again until run_job has handled it.
_signalled: list[int] = []


def _on_sigterm(signum: int, frame: object) -> None:
    _signalled.append(signum)
    raise _StopRequested(by_signal=True)


def _on_sigint(signum: int, frame: object) -> None:
    _signalled.append(signum)
    raise KeyboardInterrupt


def _raise_if_signalled() -> None:
    """Raise again a signal whose exception was swallowed before run_job saw it."""
    if not _signalled:
        return
    if _signalled[-1] == signal.SIGINT:
        raise KeyboardInterrupt
    raise _StopRequested(by_signal=True)


def stop_on_sigterm() -> None:
    """From now on SIGTERM to this process stops its job (``run_job`` stops the training job, records
    Stopped and raises JobStoppedError with ``by_signal``), as the dashboard's Stop does."""
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def _sigterm_stops_job() -> Iterator[None]:
    """While a job runs in this process's main thread (the worker, a foreground `titanic-sm run`),
    SIGTERM (a closed terminal, a plain `kill`, `jobs stop`) stops the job instead of leaving it
    to run on unfollowed, and Ctrl-C is noted so it is never lost. Off the main thread signals
    cannot be handled, so nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        _signalled.clear()


def run_worker(job_store_path: Path, job_id: str) -> int:
    """The body of ``titanic-sm worker --job-store STORE JOB_ID``: run the job with the settings
    stored with it (``_spawn_worker`` says why); exit 0 on success, 1 on failure."""
    store = JobStore(job_store_path)
    job = store.get(job_id)
    settings = job_settings(job)
    if settings is None:  # _spawn_worker stores them first: a hand-started worker of an old job
        _record_failure(store, job.id, f"job {job.job_name} has no stored settings to run with")
        print(f"error: job {job.job_name} has no stored settings to run with", file=sys.stderr, flush=True)
        return 1
    if is_followed(settings, job.id):  # a live follower already (a paused worker that woke up)
        print(f"job {job.job_name} is followed by another live process; nothing to do", flush=True)
        return 0
    # Ended meanwhile (its follower finished as this one was spawned): no beat, so the record keeps
    # the pid of the worker that ran it.
    job = store.get(job_id)
    if job.status in job_store.TERMINAL_STATUSES:
        print(f"job {job.job_name} is already {job.status}; nothing to do", flush=True)
        return 0
    # The first beat comes before any heavy import, so a reader sees the worker alive at once.
    store.heartbeat(job.id, os.getpid())

    stop_on_sigterm()

    def say(stage: str, message: str) -> None:
        print(f"[{stage}] {message}", flush=True)

    if settings.is_local:
        from services.local import stack as local_stack

        try:
            local_stack.ensure_running(settings)  # the worker is an edge: it starts what it needs
        except (local_stack.LocalStackError, OSError) as exc:
            _record_failure(store, job.id, str(exc))
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
    try:
        outcome = run_job(settings, job.id, progress=say)
    except JobAlreadyFollowedError as exc:  # an adoption raced a live worker: it goes on, not us
        print(f"{exc}; nothing to do", flush=True)
        return 0
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"job {outcome.job.job_name} {outcome.job.status}: {outcome.local_path}", flush=True)
    return 0
