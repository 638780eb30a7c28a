"""A training job's state: the one state machine, the checks CreateTrainingJob makes, the SQLite store.

Statuses and messages are SageMaker's (DescribeTrainingJob in the API reference). A job moves
only along ``TRANSITIONS``; each move closes the previous secondary status, opens the next one
with its StatusMessage, sets the primary status from ``PRIMARY_OF`` and, on a terminal status,
the end time. Nothing here knows about HTTP or Docker: ``responses`` speaks the protocol and
``runner`` drives the moves.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from container.contract import FAILURE_REASON_LIMIT, MAX_RUNTIME_LIMIT_SECONDS

__all__ = [
    "ACTIVE_PRIMARY",
    "DEFAULT_STOP_GRACE_SECONDS",
    "PRIMARY_OF",
    "SIMULATED_SPOT_SAVINGS",
    "SPOT_INTERRUPTION_TAG",
    "TERMINAL",
    "TRANSITIONS",
    "ApiError",
    "IllegalTransition",
    "JobStore",
    "TrainingJob",
    "validate_create",
]

# SageMaker sends SIGTERM on a stop and SIGKILL this many seconds later; the stack may shorten it.
DEFAULT_STOP_GRACE_SECONDS = 120.0
# Spot on the local stack is simulated: billable time is the training time less this fraction.
SIMULATED_SPOT_SAVINGS = 0.70
# Opt-in simulated spot interruption: a tag on the job, its value the seconds of training before it.
SPOT_INTERRUPTION_TAG = (
    "titanic-sm:simulate-spot-interruption-after-seconds"  # counted from the first log line
)
CONTAINER_LABEL = "titanic-sm.training-job"
MAX_INSTANCE_COUNT = 1

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The pattern of botocore's RoleArn shape.
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
S3_URI = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9\.\-_]+$")

# Secondary status -> primary status.
PRIMARY_OF = {
    "Starting": "InProgress",
    "Downloading": "InProgress",
    "Training": "InProgress",
    "Uploading": "InProgress",
    "Interrupted": "InProgress",
    "Restarting": "InProgress",
    "Stopping": "Stopping",
    "Completed": "Completed",
    "Failed": "Failed",
    "Stopped": "Stopped",
    "MaxRuntimeExceeded": "Stopped",
    "MaxWaitTimeExceeded": "Stopped",
}
TERMINAL = frozenset({"Completed", "Failed", "Stopped", "MaxRuntimeExceeded", "MaxWaitTimeExceeded"})
ACTIVE_PRIMARY = frozenset({"InProgress", "Stopping"})
_ENDED_BY_STOP = ("Stopped", "MaxRuntimeExceeded", "MaxWaitTimeExceeded")
# Every allowed move. A stop (StopTrainingJob, MaxRuntime, MaxWait) goes through Stopping; the
# stopped job's model, if it wrote one, is uploaded before it ends.
TRANSITIONS: dict[str, frozenset[str]] = {
    "Starting": frozenset({"Downloading", "Stopping", "Failed"}),
    "Downloading": frozenset({"Training", "Stopping", "Failed"}),
    "Training": frozenset({"Uploading", "Stopping", "Interrupted", "Failed"}),
    "Interrupted": frozenset({"Restarting", "Stopping", "Failed"}),
    "Restarting": frozenset({"Starting", "Stopping", "Failed"}),
    "Uploading": frozenset({"Completed", "Stopping", "Failed", *_ENDED_BY_STOP}),
    "Stopping": frozenset({"Uploading", "Failed", *_ENDED_BY_STOP}),
    **{status: frozenset() for status in TERMINAL},
}
STOP_CAUSES = {
    "StopTrainingJob": "Stopped",
    "MaxRuntimeExceeded": "MaxRuntimeExceeded",
    "MaxWaitTimeExceeded": "MaxWaitTimeExceeded",
}


class ApiError(Exception):
    """An error SageMaker would return: ``code`` is its ``__type`` (ValidationException, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IllegalTransition(RuntimeError):
    """A move the state machine does not allow (a bug in the runner, never a client's error)."""


def _now() -> float:
    return time.time()


@dataclass
class TrainingJob:
    """One job: the request as received, and everything the state machine records."""

    name: str
    arn: str
    request: dict[str, Any]
    created: float
    status: str = "InProgress"
    secondary_status: str = "Starting"
    transitions: list[dict[str, Any]] = field(default_factory=list)
    last_modified: float = 0.0
    failure_reason: str | None = None
    training_start: float | None = None
    training_end: float | None = None
    # Seconds on an "instance", summed over attempts (a spot restart starts a new one).
    instance_seconds: float = 0.0
    billable_seconds: int | None = None
    final_metrics: list[dict[str, Any]] = field(default_factory=list)
    model_artifacts: str | None = None
    stop_cause: str | None = None  # StopTrainingJob, MaxRuntimeExceeded or MaxWaitTimeExceeded
    attempt: int = 0
    interruptions: int = 0
    container_id: str | None = None
    tree: str | None = None  # the job's /opt/ml tree on the host while it runs
    log_streams: list[str] = field(default_factory=list)
    exit_code: int | None = None
    attempt_started: float | None = None  # when this attempt's instance began (Downloading)
    peak_memory_percent: float = 0.0
    # The container's own run (Docker's StartedAt to FinishedAt), summed over attempts: the
    # figure "fit overhead" is measured against.
    container_seconds: float = 0.0
    container_exits: list[dict[str, float]] = field(default_factory=list)  # per attempt, for benches
    tags: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def create(
        cls, request: Mapping[str, Any], region: str, account: str, now: float | None = None
    ) -> TrainingJob:
        at = _now() if now is None else now
        name = str(request["TrainingJobName"])
        job = cls(
            name=name,
            arn=f"arn:aws:sagemaker:{region}:{account}:training-job/{name.lower()}",
            request=dict(request),
            created=at,
            last_modified=at,
            tags=[dict(tag) for tag in request.get("Tags", [])],
        )
        job.transitions.append({"Status": "Starting", "StartTime": at, "StatusMessage": MESSAGES["Starting"]})
        return job

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_PRIMARY

    @property
    def instance_type(self) -> str:
        return str(self.request["ResourceConfig"]["InstanceType"])

    @property
    def spot(self) -> bool:
        return bool(self.request.get("EnableManagedSpotTraining"))

    @property
    def max_runtime(self) -> float | None:
        value = (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        return float(value) if value else None

    @property
    def max_wait(self) -> float | None:
        value = (self.request.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
        return float(value) if value else None

    @property
    def simulated_interruption_after(self) -> float | None:
        """Seconds of training before the simulated spot interruption, when the job opted in."""
        for tag in self.tags:
            if tag.get("Key") == SPOT_INTERRUPTION_TAG:
                return float(tag["Value"])
        return None

    def move(self, status: str, message: str | None = None, now: float | None = None) -> None:
        """Take one edge of the state machine, recording it as SageMaker reports it."""
        if status not in TRANSITIONS.get(self.secondary_status, frozenset()):
            raise IllegalTransition(f"{self.name}: {self.secondary_status} -> {status} is not allowed")
        at = _now() if now is None else now
        if self.transitions:
            self.transitions[-1]["EndTime"] = at
        entry: dict[str, Any] = {
            "Status": status,
            "StartTime": at,
            "StatusMessage": message or MESSAGES[status],
        }
        if status in TERMINAL:
            entry["EndTime"] = at
        self.transitions.append(entry)
        self.secondary_status = status
        self.status = PRIMARY_OF[status]
        self.last_modified = at
        if status in TERMINAL:
            self.training_end = at
            self.billable_seconds = min(self.billable(self.instance_seconds), self.training_seconds or 0)
        if status == "Failed" and message:
            self.failure_reason = message[:FAILURE_REASON_LIMIT]

    def request_stop(self, cause: str, now: float | None = None) -> bool:
        """Record why the job stops and move to Stopping; False when it is already stopping or over."""
        if not self.active or self.secondary_status == "Stopping":
            return False
        self.stop_cause = cause
        self.move("Stopping", STOP_MESSAGES[cause], now)
        return True

    def stopped_status(self) -> str:
        """The terminal status a stopped job ends in, by what stopped it."""
        return STOP_CAUSES[self.stop_cause or "StopTrainingJob"]

    @property
    def training_seconds(self) -> int | None:
        """TrainingTimeInSeconds: TrainingStartTime to TrainingEndTime, whole seconds, at least 1."""
        if self.training_start is None or self.training_end is None:
            return None
        return max(1, math.ceil(self.training_end - self.training_start))

    def billable(self, seconds: float) -> int:
        """SageMaker bills whole seconds, at least one; spot here at the simulated discount."""
        factor = 1.0 - SIMULATED_SPOT_SAVINGS if self.spot else 1.0
        # Rounded first: 100 s x 0.3 is 30.000000000000004 in floating point, not 31 s.
        return max(1, math.ceil(round(seconds * factor, 6))) if seconds > 0 else 0

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TrainingJob:
        return cls(**dict(record))


MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped: it exceeded MaxRuntimeInSeconds",
    "MaxWaitTimeExceeded": "Training job stopped: it exceeded MaxWaitTimeInSeconds",
    "Interrupted": (
        "Simulated spot interruption: the instance was reclaimed (local stack, not a real spot event)"
    ),
    "Restarting": "Restarting the training job on a new instance (simulated spot)",
}
STOP_MESSAGES = {
    "StopTrainingJob": "Stopping the training job (StopTrainingJob)",
    "MaxRuntimeExceeded": "Stopping the training job: MaxRuntimeInSeconds reached",
    "MaxWaitTimeExceeded": "Stopping the training job: MaxWaitTimeInSeconds reached",
}


def _fail(field_name: str, message: str) -> ApiError:
    return ApiError("ValidationException", f"1 validation error detected: Value at '{field_name}' {message}")


def _s3_uri(field_name: str, uri: Any) -> None:
    if not isinstance(uri, str) or not uri.startswith("s3://") or not S3_URI.match(uri):
        raise _fail(field_name, f"failed to satisfy constraint: must be an s3:// URI, not {uri!r}")
    bucket = uri[len("s3://") :].split("/", 1)[0]
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
        raise _fail(field_name, f"failed to satisfy constraint: {bucket!r} is not a valid S3 bucket name")


def validate_create(
    request: Mapping[str, Any],
    instance_types: Iterable[str],
    resolve_image: Callable[[str], str | None],
) -> None:
    """What SageMaker checks before it accepts a CreateTrainingJob (uniqueness and quotas aside).

    ``resolve_image`` returns why an image cannot be used, or None when the registry has it.
    """
    name = request.get("TrainingJobName")
    if not isinstance(name, str) or not JOB_NAME.match(name):
        raise _fail(
            "trainingJobName",
            f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
            f"{JOB_NAME.pattern} (got {name!r})",
        )
    role = request.get("RoleArn")
    if not isinstance(role, str) or not ROLE_ARN.match(role):
        raise _fail("roleArn", f"failed to satisfy constraint: {role!r} is not an IAM role ARN")
    algorithm = request.get("AlgorithmSpecification") or {}
    image = algorithm.get("TrainingImage")
    if not image:
        raise _fail(
            "algorithmSpecification.trainingImage", "must be given (AlgorithmName is not supported here)"
        )
    if algorithm.get("TrainingInputMode", "File") != "File":
        raise _fail(
            "algorithmSpecification.trainingInputMode", "failed to satisfy constraint: only File is supported"
        )
    resource = request.get("ResourceConfig") or {}
    instance_type = resource.get("InstanceType")
    if instance_type not in set(instance_types):
        raise _fail(
            "resourceConfig.instanceType",
            f"failed to satisfy constraint: Member must satisfy enum value set (TrainingInstanceType); "
            f"{instance_type!r} is not a training instance type",
        )
    count = resource.get("InstanceCount", 1)
    if not isinstance(count, int) or count < 1:
        raise _fail(
            "resourceConfig.instanceCount", f"failed to satisfy constraint: must be at least 1, not {count!r}"
        )
    if count > MAX_INSTANCE_COUNT:
        raise _fail(
            "resourceConfig.instanceCount",
            f"failed to satisfy constraint: the local stack runs {MAX_INSTANCE_COUNT} instance per job "
            f"(distributed training is not supported here), not {count}",
        )
    output = (request.get("OutputDataConfig") or {}).get("S3OutputPath")
    _s3_uri("outputDataConfig.s3OutputPath", output)
    channels = request.get("InputDataConfig") or []
    seen: set[str] = set()
    for index, channel in enumerate(channels):
        where = f"inputDataConfig.{index + 1}"
        channel_name = channel.get("ChannelName")
        if not isinstance(channel_name, str) or not CHANNEL_NAME.match(channel_name):
            raise _fail(
                f"{where}.channelName", f"failed to satisfy constraint: {channel_name!r} is not a name"
            )
        if channel_name in seen:
            raise _fail(f"{where}.channelName", f"channel {channel_name!r} is given twice")
        seen.add(channel_name)
        source = (channel.get("DataSource") or {}).get("S3DataSource")
        if not source:
            raise _fail(f"{where}.dataSource", "must be an S3DataSource (others are not supported here)")
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise _fail(f"{where}.dataSource.s3DataSource.s3DataType", "only S3Prefix is supported here")
        _s3_uri(f"{where}.dataSource.s3DataSource.s3Uri", source.get("S3Uri"))
    checkpoint = request.get("CheckpointConfig")
    if checkpoint:
        _s3_uri("checkpointConfig.s3Uri", checkpoint.get("S3Uri"))
    stopping = request.get("StoppingCondition") or {}
    max_run = stopping.get("MaxRuntimeInSeconds")
    if max_run is not None and not (isinstance(max_run, int) and 1 <= max_run <= MAX_RUNTIME_LIMIT_SECONDS):
        raise _fail(
            "stoppingCondition.maxRuntimeInSeconds",
            f"failed to satisfy constraint: must be between 1 and {MAX_RUNTIME_LIMIT_SECONDS}, "
            f"not {max_run!r}",
        )
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if request.get("EnableManagedSpotTraining"):
        if max_wait is None:
            raise ApiError(
                "ValidationException",
                "MaxWaitTimeInSeconds must be set in StoppingCondition when "
                "EnableManagedSpotTraining is true",
            )
        if max_wait < (max_run or 86400):
            raise ApiError(
                "ValidationException",
                f"Invalid MaxWaitTimeInSeconds: {max_wait} must be greater than or equal to "
                f"MaxRuntimeInSeconds ({max_run or 86400})",
            )
    elif max_wait is not None:
        raise ApiError(
            "ValidationException",
            "MaxWaitTimeInSeconds can be set only when EnableManagedSpotTraining is true",
        )
    for key, value in (request.get("HyperParameters") or {}).items():
        if not isinstance(value, str):
            raise _fail(f"hyperParameters.{key}", "failed to satisfy constraint: values must be strings")
    after = next(
        (t.get("Value") for t in request.get("Tags") or [] if t.get("Key") == SPOT_INTERRUPTION_TAG), None
    )
    if after is not None:
        try:
            valid = float(after) > 0
        except ValueError:
            valid = False
        if not valid or not request.get("EnableManagedSpotTraining"):
            raise _fail(
                f"tags.{SPOT_INTERRUPTION_TAG}",
                "the simulated spot interruption needs EnableManagedSpotTraining and a positive "
                "number of seconds",
            )
    problem = resolve_image(str(image))
    if problem is not None:
        raise ApiError("ValidationException", f"Cannot use the training image {image}: {problem}")


class JobStore:
    """Jobs in SQLite under the stack dir: one row per job, its record as JSON.

    Every change goes through ``update`` under one lock, so the runner's threads and the HTTP
    handlers never interleave half a change; a restart reads the same rows back.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs ("
            " name TEXT PRIMARY KEY, created REAL NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL)"
        )
        self._jobs: dict[str, TrainingJob] = {}
        for (record,) in self._db.execute("SELECT record FROM jobs"):
            job = TrainingJob.from_record(json.loads(record))
            self._jobs[job.name] = job

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _save(self, job: TrainingJob) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO jobs (name, created, status, record) VALUES (?, ?, ?, ?)",
            (job.name, job.created, job.status, json.dumps(job.to_record())),
        )

    def insert(self, job: TrainingJob, admit: Callable[[list[TrainingJob]], None] | None = None) -> None:
        """Add a new job; ``admit`` sees the active jobs and may refuse (quotas), atomically."""
        with self._lock:
            if job.name in self._jobs:
                raise ApiError(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a "
                    f"training job with this name already exists ({self._jobs[job.name].arn})",
                )
            if admit is not None:
                admit([j for j in self._jobs.values() if j.active])
            self._jobs[job.name] = job
            self._save(job)

    def get(self, name: str) -> TrainingJob:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                raise ApiError("ValidationException", f"Requested resource not found: training job {name!r}")
            return TrainingJob.from_record(json.loads(json.dumps(job.to_record())))

    def find_by_arn(self, arn: str) -> TrainingJob | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.arn == arn), None)

    def all(self) -> list[TrainingJob]:
        with self._lock:
            return [
                TrainingJob.from_record(json.loads(json.dumps(j.to_record()))) for j in self._jobs.values()
            ]

    def update(self, name: str, change: Callable[[TrainingJob], Any]) -> Any:
        """Apply ``change`` to the stored job and persist it; returns what ``change`` returned."""
        with self._lock:
            job = self._jobs[name]
            result = change(job)
            self._save(job)
            return result
