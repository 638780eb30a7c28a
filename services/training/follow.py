"""Following a training job: DescribeTrainingJob polls, its transitions into the job store, its
CloudWatch log lines, and its outcome.

One live process follows a job at a time (``following``, a kernel lock that dies with its holder).
A follower that cannot reach the training API records nothing terminal: the job is unknown for now
(``TrainingApiUnreachableError``) and the next reader's ``jobs.sync`` adopts it."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.instance import cost
from services.jobs import store as job_store
from services.jobs.store import Job, JobStore
from services.settings import Settings
from services.training import signals
from services.training.errors import (
    JobAlreadyFollowedError,
    JobFailedError,
    MaxRuntimeExceededError,
    StageError,
    StopRequested,
    TrainingApiUnreachableError,
)

__all__ = [
    "API_UNREACHABLE_SECONDS",
    "POLL_BACKOFF_AFTER_SECONDS",
    "POLL_SECONDS",
    "TrainingJobState",
    "describe",
    "follow",
    "following",
    "is_followed",
    "job_is_unknown",
    "parse_training_job",
    "training_job_record",
]

# DescribeTrainingJob: the first interval, and the longest it backs off to while nothing changes.
POLL_SECONDS = (0.5, 10.0)
# The poll stays at the first interval until the job has been unchanged this long: a short job's
# end is seen within 0.5 s (a back-off from the start saw a 4 s Training phase end 2-4 s late).
POLL_BACKOFF_AFTER_SECONDS = 30.0
# How long a follower keeps asking a training API it cannot reach (the local control plane or moto
# restarting, a network blip, a laptop waking up) before it gives up. The job is then unknown for
# now, not Failed: it stays active, and the next reader's ``jobs.sync`` adopts it.
API_UNREACHABLE_SECONDS = 300.0


# SageMaker's secondary status when it stopped a job at a limit, not at the user's request.
_SAGEMAKER_LIMITS = {
    "MaxRuntimeExceeded": "max_run (MaxRuntimeInSeconds)",
    "MaxWaitTimeExceeded": "max_wait (MaxWaitTimeInSeconds)",
}


def _follower_lock_path(settings: Settings, job_id: str) -> Path:
    # Never removed: unlinking a lock file another process may be opening would split the lock.
    return settings.state_dir / "follower-locks" / f"{job_id}.lock"


@contextlib.contextmanager
def following(settings: Settings, job_id: str) -> Iterator[None]:
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
        with following(settings, job_id):
            return False
    except JobAlreadyFollowedError:
        return True


# What the job store keeps of DescribeTrainingJob: what the job view and the hand-in show.
_TRAINING_JOB_FIELDS = (
    "TrainingJobArn",
    "TrainingJobStatus",
    "SecondaryStatus",
    "SecondaryStatusTransitions",
    "FailureReason",
    "FinalMetricDataList",
    "TrainingStartTime",
    "TrainingEndTime",
    "TrainingTimeInSeconds",
    "BillableTimeInSeconds",
    "ResourceConfig",
    "StoppingCondition",
    "EnableManagedSpotTraining",
    "EnableNetworkIsolation",
    "ModelArtifacts",
    "AlgorithmSpecification",
    "RoleArn",
)


def training_job_record(described: Mapping[str, Any]) -> dict[str, Any]:
    """The DescribeTrainingJob fields we keep, JSON-ready (datetimes as epoch seconds)."""

    def plain(value: Any) -> Any:
        if hasattr(value, "timestamp"):
            return value.timestamp()
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return {name: plain(described[name]) for name in _TRAINING_JOB_FIELDS if name in described}


@dataclass(frozen=True)
class TrainingJobState:
    """One DescribeTrainingJob answer, read once: what the refresh and the worker record of it."""

    status: str
    secondary_status: str | None
    failure_reason: str | None
    artifact_uri: str | None
    training_seconds: float | None  # None when SageMaker gives none (or 0)
    billable_seconds: float | None
    transitions: tuple[Mapping[str, Any], ...]
    record: Mapping[str, Any]  # the fields the store keeps (``training_job``), JSON-ready

    @property
    def spot_savings(self) -> float | None:
        return cost.spot_savings(self.billable_seconds, self.training_seconds)

    def timings(self) -> dict[str, float]:
        """The times and the spot savings SageMaker reports, only those it knows."""
        known = {
            "training_seconds": self.training_seconds,
            "billable_seconds": self.billable_seconds,
            "spot_savings": self.spot_savings,
        }
        return {name: value for name, value in known.items() if value is not None}


def parse_training_job(described: Mapping[str, Any]) -> TrainingJobState:
    """A DescribeTrainingJob response (SageMaker's, or the local control plane's), parsed."""
    training = described.get("TrainingTimeInSeconds")
    billable = described.get("BillableTimeInSeconds")
    return TrainingJobState(
        status=str(described["TrainingJobStatus"]),
        secondary_status=described.get("SecondaryStatus"),
        failure_reason=described.get("FailureReason"),
        artifact_uri=(described.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or None,
        training_seconds=float(training) if training else None,
        billable_seconds=float(billable) if billable is not None else None,
        transitions=tuple(described.get("SecondaryStatusTransitions") or ()),
        record=training_job_record(described),
    )


def describe(settings: Settings, job_name: str) -> TrainingJobState:
    """DescribeTrainingJob, read once."""
    from services import aws

    described = aws.client(settings, "sagemaker").describe_training_job(TrainingJobName=job_name)
    return parse_training_job(described)


def job_is_unknown(exc: Any) -> bool:
    """SageMaker's answer for a job name it has no record of (not created yet)."""
    error = exc.response.get("Error", {})
    return error.get("Code") in ("ResourceNotFound", "ValidationException") and "not found" in str(
        error.get("Message", "")
    ).lower().replace("could not find", "not found")


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


def _describe_patiently(settings: Settings, job_name: str) -> TrainingJobState:
    """DescribeTrainingJob, asked again while the API is unreachable (up to API_UNREACHABLE_SECONDS).

    A follower that cannot reach the API knows nothing of the job's end, so it never records one:
    past the limit it raises TrainingApiUnreachableError and the job stays active."""
    deadline = time.monotonic() + API_UNREACHABLE_SECONDS
    pause = POLL_SECONDS[0]
    while True:
        try:
            return describe(settings, job_name)
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


def _record_progress(store: JobStore, job: Job, described: TrainingJobState, seen: int) -> int:
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


def follow(settings: Settings, store: JobStore, job: Job, echo: Callable[[str], None] | None) -> str:
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
        signals.raise_if_signalled()
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
    signals.raise_if_signalled()
    return _outcome(store, job, described)


def _outcome(store: JobStore, job: Job, described: TrainingJobState) -> str:
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
        raise StopRequested(by_signal=False)
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
