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
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from services import jobs as job_store
from services.jobs import Job, JobStore
from services.settings import ENV_PREFIX, Settings

__all__ = [
    "HEARTBEAT_SECONDS",
    "JobFailedError",
    "JobOutcome",
    "LaunchRequest",
    "MaxRuntimeExceededError",
    "Progress",
    "StageError",
    "cost_basis",
    "estimate_cost",
    "launch",
    "record_job",
    "restart",
    "run_job",
    "run_worker",
    "settings_env",
    "stop",
    "worker_log_path",
]

HEARTBEAT_SECONDS = 5.0
AWS_POLL_SECONDS = 10.0
STOP_GRACE_SECONDS = 20.0
FAILURE_PREFIX = "Failure reason:"
LOCAL_SPOT_NOTICE = (
    "note: SageMaker local mode has no managed spot, so this local run is on-demand; "
    "the job is priced as spot, and on the aws target spot is requested as asked"
)
# Where this package lives: the worker runs `python -m services` from there.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

Progress = Callable[[str, str], None]


class StageError(RuntimeError):
    """A stage failed; ``str()`` is one line naming the stage and the cause."""

    def __init__(self, stage: str, cause: str) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause


class JobFailedError(StageError):
    """The training job itself failed; ``cause`` is the container's failure reason."""


class MaxRuntimeExceededError(StageError):
    """The job ran past max_run (or, on spot, max_wait); like SageMaker, it ends Stopped with
    ``secondary_status`` MaxRuntimeExceeded (or MaxWaitTimeExceeded)."""

    def __init__(self, stage: str, cause: str, secondary_status: str = "MaxRuntimeExceeded") -> None:
        super().__init__(stage, cause)
        self.secondary_status = secondary_status


class _StopRequested(BaseException):
    """SIGTERM reached the worker: the user stopped the job."""


@dataclass(frozen=True)
class LaunchRequest:
    """What the user asked for; stored with the job so the worker (or a restart) can replay it."""

    channels: Mapping[str, str]
    dataset_version: str | None = None
    instance_type: str | None = None  # None: settings.instance_type
    instance_reason: str | None = None  # why the recommendation was overridden, if it was
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    use_spot: bool = False
    max_run_seconds: int = 3600
    max_wait_seconds: int | None = None
    request_key: str | None = None
    image_uri: str | None = None  # None: the worker builds and pushes (ensure_image)
    job_name: str | None = None  # None: a fresh unique name

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["channels"] = dict(self.channels)
        values["hyperparameters"] = {k: str(v) for k, v in self.hyperparameters.items()}
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LaunchRequest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class JobOutcome:
    job: Job
    local_path: Path | None
    metrics: dict[str, Any]
    seconds: dict[str, float]


def _settings_to_dict(settings: Settings) -> dict[str, Any]:
    values = asdict(settings)
    for name in ("state_dir", "runs_dir", "data_dir"):
        values[name] = str(Path(values[name]).resolve())
    values["hyperparameters"] = dict(settings.hyperparameters)
    return values


def settings_env(settings: Settings) -> dict[str, str]:
    """TITANIC_SM_* for every setting, so the worker's CLI edge rebuilds these very settings."""
    env: dict[str, str] = {}
    for name, value in _settings_to_dict(settings).items():
        if value is None or name == "hyperparameters":
            continue
        env[ENV_PREFIX + name.upper()] = (
            ("true" if value else "false") if isinstance(value, bool) else str(value)
        )
    return env


def _settings_from_job(job: Job, fallback: Settings) -> Settings:
    stored = job.request.get("settings")
    if not stored:
        return fallback
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in stored.items() if k in known})


def _fit_request(settings: Settings, job: Job, image_uri: str) -> Any:
    from services import training

    request = LaunchRequest.from_dict(job.request.get("launch", {}))
    return training.FitRequest(
        job_name=job.job_name,
        image_uri=image_uri,
        channels=dict(job.channels),
        hyperparameters=dict(job.hyperparameters),
        instance_type=job.instance_type or settings.instance_type,
        instance_count=settings.instance_count,
        use_spot=job.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
        tags={"project": "titanic-sm", "titanic-sm-job-id": job.id, "titanic-sm-target": settings.target},
    )


# Digest-shaped stand-in, so the image check passes before the image exists; the worker
# validates again with the real URI.
_PLACEHOLDER_IMAGE = "pending/image@sha256:" + "0" * 64


def _price(settings: Settings, instance_type: str, use_spot: bool) -> tuple[float, str] | None:
    """The hourly price from the instance service: live on aws (the snapshot when the API is
    denied or unreachable), the snapshot on local; spot without a spot product is the on-demand rate."""
    from services import instances

    quote = instances.price_quote(settings, instance_type, use_spot)
    return (quote.usd_per_hour, f"{quote.source}, {quote.fetched}") if quote is not None else None


def _estimate(
    settings: Settings, instance_type: str, use_spot: bool, dataset_version: str | None = None
) -> Any:
    """cost.estimate_job's figure (last comparable job, else the probe), or None when unknown."""
    from services import cost

    try:
        return cost.estimate_job(settings, instance_type, spot=use_spot, dataset_version=dataset_version)
    except Exception:  # no price or no duration yet: the launch goes on, the estimate is "unknown"
        return None


def estimate_cost(settings: Settings, instance_type: str, use_spot: bool) -> str:
    """One line for the launch form: the expected cost and where its figures come from."""
    found = _estimate(settings, instance_type, use_spot)
    if found is None:
        price = _price(settings, instance_type, use_spot)
        if price is None:
            return f"no price known for {instance_type}"
        return f"${price[0]:.4f}/h ({price[1]}); no duration yet to estimate a job from"
    return (
        f"${found.usd:.5f} for {found.expected_seconds:.0f} s ({found.seconds_source}) "
        f"at ${found.usd_per_hour:.4f}/h ({found.price_source}){' spot' if use_spot else ''}"
    )


def record_job(settings: Settings, request: LaunchRequest) -> tuple[Job, bool]:
    """Validate the request and record it as a Pending job (or return the one with its key)."""
    from services import cost, training

    instance_type = request.instance_type or settings.instance_type
    job_name = request.job_name or training.job_name_for(settings.prefix)
    check = training.FitRequest(
        job_name=job_name,
        image_uri=request.image_uri or _PLACEHOLDER_IMAGE,
        channels=dict(request.channels),
        hyperparameters=dict(request.hyperparameters),
        instance_type=instance_type,
        instance_count=settings.instance_count,
        use_spot=request.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
    )
    sent = training.validate_request(settings, check)  # raises TrainingError with one line
    cost.check_budget(
        settings,
        instance_type,
        spot=request.use_spot,
        max_run_seconds=request.max_run_seconds,
        max_wait_seconds=request.max_wait_seconds,
    )  # over max_job_cost_usd: refused
    store = JobStore(settings.job_store_path)
    estimate = _estimate(settings, instance_type, request.use_spot, request.dataset_version)
    return store.create(
        target=settings.target,
        job_name=job_name,
        request_key=request.request_key,
        instance_type=instance_type,
        instance_reason=request.instance_reason,
        use_spot=request.use_spot,
        image_uri=request.image_uri,
        dataset_version=request.dataset_version,
        channels=dict(request.channels),
        hyperparameters=sent,
        estimated_cost=estimate.usd if estimate is not None else None,
        request={"launch": request.to_dict(), "settings": _settings_to_dict(settings)},
    )


def worker_log_path(settings: Settings, job_id: str) -> Path:
    return settings.state_dir / "workers" / f"{job_id}.log"


def launch(settings: Settings, request: LaunchRequest) -> str:
    """Record the job and start its detached worker; returns the job id at once.

    A repeated request key returns the existing job without starting anything.
    """
    job, created = record_job(settings, request)
    if not created:
        return job.id
    log_path = worker_log_path(settings, job.id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **settings_env(settings),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "services",
        "--target",
        settings.target,
        "--region",
        settings.region,
        "--state-dir",
        str(settings.state_dir.resolve()),
        "worker",
        job.id,
    ]
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
    JobStore(settings.job_store_path).update(job.id, worker_pid=process.pid, log_file=str(log_path))
    # Reap the child when it exits, so a long-lived caller never keeps a zombie.
    threading.Thread(target=process.wait, name=f"reap-{job.id}", daemon=True).start()
    return job.id


def restart(settings: Settings, job_id: str) -> str:
    """Launch a finished (e.g. crashed) job's request again, as a new job; returns its id."""
    store = JobStore(settings.job_store_path)
    old = store.get(job_id)
    if old.is_active:
        raise StageError("restart", f"job {old.job_name} is still {old.status}; stop it first")
    request = LaunchRequest.from_dict(old.request.get("launch", {}))
    again = LaunchRequest(**{**asdict(request), "request_key": None, "job_name": None})
    return launch(_settings_from_job(old, settings), again)


def stop(settings: Settings, job_id: str) -> Job:
    """Stop a job: local → its containers and its worker; aws → StopTrainingJob. Returns the job."""
    store = JobStore(settings.job_store_path)
    job = store.get(job_id)
    if not job.is_active:
        return job
    if job.target == "aws":
        if job.status == "Stopping":  # already asked; SageMaker is stopping it
            return job
        from services import aws

        # Asked before it is recorded: a refused or failed call leaves the job as it was, so the
        # stop can be tried again (a job recorded Stopping is never asked twice).
        aws.client(settings, "sagemaker").stop_training_job(TrainingJobName=job.job_name)
        # The worker's poll records Stopped.
        return store.set_status(job.id, "Stopping", secondary_status="Stopping", message="stop requested")
    job = store.set_status(job.id, "Stopping", secondary_status="Stopping", message="stop requested")
    _stop_local_containers(job.job_name)
    pid = job.worker_pid
    if pid is not None and job_store.pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while job_store.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if job_store.pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    return store.set_status(job.id, "Stopped", secondary_status="Stopped", message="stopped by the user")


def _local_job_containers(job_name: str, *, include_exited: bool = False) -> list[str]:
    """The containers local mode started for this job (it sets TRAINING_JOB_NAME in each)."""
    from services.docker_cli import docker

    # Local mode runs every job through docker-compose, which labels its containers.
    args = ["ps", "-q", "--filter", "label=com.docker.compose.project", *(["-a"] if include_exited else [])]
    try:
        listed = docker(args, what="docker ps", check=False)
    except Exception:  # no Docker CLI: there can be no containers
        return []
    found: list[str] = []
    for container in listed.stdout.split():
        env = docker(
            ["inspect", "--format", "{{json .Config.Env}}", container], what="docker inspect", check=False
        ).stdout
        if f'"TRAINING_JOB_NAME={job_name}"' in env:
            found.append(container)
    return found


def _stop_local_containers(job_name: str) -> list[str]:
    from services.docker_cli import docker

    stopped = _local_job_containers(job_name)
    for container in stopped:
        docker(["stop", "--time", "5", container], what="docker stop", check=False, timeout=30)
    return stopped


def _remove_local_containers(job_name: str) -> list[str]:
    """Remove a finished job's containers: compose leaves them behind, one per job, for ever."""
    from services.docker_cli import docker

    removed = _local_job_containers(job_name, include_exited=True)
    if removed:
        docker(["rm", "-f", *removed], what="docker rm", check=False, timeout=60)
    return removed


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
    store = JobStore(settings.job_store_path)
    job = store.get(job_id, reap=False)
    # Whoever runs the stages (a worker, or `titanic-sm run` in-process) beats, so readers can
    # tell a live run from a dead one.
    with _heartbeat(store, job.id):
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
        store.set_status(job.id, "InProgress", secondary_status="Starting", message="worker started")
        image_uri = job.image_uri
        if not image_uri:
            from services import images

            done = _timed(seconds, "image", progress)
            ref = images.ensure_image(settings, progress)
            image_uri = ref.uri_with_digest
            seconds.update({f"image.{k}": v for k, v in ref.seconds.items()})
            if settings.is_local:
                # Local mode must pull the pushed image by digest: proof the push is what trains.
                images.remove_local_tags(ref)
            store.update(job.id, image_uri=image_uri)
            done()
        job = store.get(job.id, reap=False)
        stage = "fit"
        done = _timed(seconds, "fit", progress)
        store.set_status(job.id, "InProgress", secondary_status="Training", message=f"image {image_uri}")
        artifact_uri = _fit(settings, store, job, image_uri, echo)
        done()
        stage = "verify"
        done = _timed(seconds, "verify", progress)
        store.set_status(job.id, "InProgress", secondary_status="Uploading", message=artifact_uri)
        store.update(job.id, artifact_uri=artifact_uri)
        from services import artifacts

        metrics, data = artifacts.fetch_verified(settings, artifact_uri, job.hyperparameters)
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
            **_headline(run.metrics),
            **_actual_cost(settings, store.get(job.id, reap=False), seconds.get("fit", 0.0)),
        }
        if settings.is_local:
            # The job's duration as billing would see it (container start to exit), which is what
            # the next estimate should use; metrics.json keeps the in-container fit time.
            results["training_seconds"] = seconds.get("fit")
        final = store.set_status(
            job.id,
            "Completed",
            secondary_status="Completed",
            metrics=run.metrics,
            local_path=str(run.local_path),
            **results,
        )
        done()
        _add_cost_to_run(run.run_manifest, final)
        return JobOutcome(final, run.local_path, run.metrics, seconds)
    except _StopRequested:
        store.set_status(job.id, "Stopped", secondary_status="Stopped", message="stopped by the user")
        raise StageError(stage, "stopped by the user") from None
    except KeyboardInterrupt:  # Ctrl-C on `titanic-sm run`: the terminal stopped compose too
        store.set_status(job.id, "Stopped", secondary_status="Stopped", message="interrupted")
        raise
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
        error = StageError(stage, " ".join(str(exc).split()) or type(exc).__name__)
        _record_failure(store, job.id, str(error))
        raise error from exc


def cost_basis(job: Job) -> str:
    """How the job's actual cost was reached (for run.json and the run summary)."""
    if job.target == "aws" and job.billable_seconds is not None:
        return "billable seconds"
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
    current = store.get(job_id, reap=False)
    if current.status == "Stopping":  # the failure is the stop's doing
        store.set_status(job_id, "Stopped", secondary_status="Stopped", message=reason)
    else:
        store.set_status(job_id, "Failed", secondary_status="Failed", failure_reason=reason, message=reason)


def _fit(
    settings: Settings, store: JobStore, job: Job, image_uri: str, echo: Callable[[str], None] | None
) -> str:
    """Run the fit; return the S3 URI of model.tar.gz. Raises JobFailedError with the reason."""
    from services import artifacts, logs, training

    request = _fit_request(settings, job, image_uri)
    if not settings.is_local:
        return _fit_on_aws(settings, store, job, request, echo)
    failure_lines: list[str] = []
    # Local mode ignores the stopping condition, so the worker enforces max_run itself, counted
    # (as on SageMaker) from when the container starts talking, not from the image pull.
    limit = request.max_run_seconds
    timed_out = threading.Event()
    container_started = threading.Event()

    def stop_at_limit() -> None:
        timed_out.set()
        _stop_local_containers(job.job_name)

    timer = threading.Timer(limit, stop_at_limit)
    timer.daemon = True

    with logs.LogForwarder(settings, job.job_name) as forwarder:

        def on_line(raw: str) -> None:
            if raw.startswith("sagemaker.config "):  # the SDK's own chatter, not the job's output
                return
            line = _container_line(raw)
            if "|" in raw and not container_started.is_set():  # compose prefixes container lines "name |"
                container_started.set()
                timer.start()
            forwarder.write(line)
            if FAILURE_PREFIX in line:
                failure_lines.append(line.split(FAILURE_PREFIX, 1)[1].strip())
            if echo is not None:
                echo(line)

        try:
            with logs.capture_lines(on_line, "stdout"):
                if request.use_spot:
                    print(LOCAL_SPOT_NOTICE, flush=True)
                estimator = training.start_fit(settings, request)
            if timed_out.is_set():
                raise training.TrainingError("stopped at max_run")
            timer.cancel()
        except training.TrainingError as exc:
            timer.cancel()
            if timed_out.is_set():
                forwarder.write(f"MaxRuntimeExceeded: stopped after max_run ({limit} s)")
                raise MaxRuntimeExceededError(
                    "fit", f"job {job.job_name} ran longer than max_run ({limit} s) and was stopped"
                ) from None
            job_prefix = f"{training.output_path(settings)}/{job.job_name}/output"
            reason = artifacts.failure_reason_from_output(settings, job_prefix)
            reason = reason or (failure_lines[-1] if failure_lines else None) or str(exc)
            raise JobFailedError("fit", f"job {job.job_name} failed: {reason}") from None
        finally:
            _remove_local_containers(job.job_name)
    return str(estimator.model_data)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# docker-compose prefixes each container line with "<name>-algo-1-<id> | ".
_COMPOSE_PREFIX = re.compile(r"^\S*algo-\d+-\w+\s+\|\s?")


def _container_line(raw: str) -> str:
    """A compose output line as the container printed it (as SageMaker's log stream has it)."""
    return _COMPOSE_PREFIX.sub("", _ANSI.sub("", raw)).rstrip("\r")


# SageMaker's secondary status when it stopped a job at a limit, not at the user's request.
_SAGEMAKER_LIMITS = {
    "MaxRuntimeExceeded": "max_run (MaxRuntimeInSeconds)",
    "MaxWaitTimeExceeded": "max_wait (MaxWaitTimeInSeconds)",
}


def _fit_on_aws(
    settings: Settings, store: JobStore, job: Job, request: Any, echo: Callable[[str], None] | None
) -> str:
    """CreateTrainingJob, then follow DescribeTrainingJob until it ends, recording transitions
    (and handing SageMaker's own log lines to ``echo``)."""
    from services import aws, logs, training

    training.start_fit(settings, request, wait=False)
    sagemaker = aws.client(settings, "sagemaker")
    token: str | None = None
    while True:
        if echo is not None:
            page = logs.read_events(settings, job.job_name, token)
            token = page.next_token
            for event in page.events:
                echo(event.message)
        described = sagemaker.describe_training_job(TrainingJobName=job.job_name)
        status = described["TrainingJobStatus"]
        secondary = described.get("SecondaryStatus")
        if status in ("Completed", "Failed", "Stopped"):
            break
        current = store.get(job.id, reap=False)
        store.set_status(
            job.id, "Stopping" if current.status == "Stopping" else status, secondary_status=secondary
        )
        time.sleep(AWS_POLL_SECONDS)
    training_seconds = described.get("TrainingTimeInSeconds")
    billable = described.get("BillableTimeInSeconds")
    store.update(
        job.id,
        training_seconds=float(training_seconds) if training_seconds else None,
        billable_seconds=float(billable) if billable is not None else None,
    )
    if status == "Stopped" and secondary in _SAGEMAKER_LIMITS:
        limit = _SAGEMAKER_LIMITS[secondary]
        raise MaxRuntimeExceededError(
            "fit", f"job {job.job_name} ran longer than {limit} and SageMaker stopped it", secondary
        )
    if status == "Stopped":
        raise _StopRequested()
    if status == "Failed":
        reason = described.get("FailureReason") or "no failure reason given"
        raise JobFailedError("fit", f"job {job.job_name} failed: {reason}")
    artifact = described.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if not artifact:
        raise StageError("verify", f"job {job.job_name} completed without a model artifact")
    return str(artifact)


def _headline(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    validation = metrics.get("validation") or {}
    cv = metrics.get("cv") or {}

    def mean(name: str) -> float | None:
        value = (cv.get(name) or {}).get("mean")
        return float(value) if value is not None else None

    return {
        "validation_accuracy": validation.get("accuracy"),
        "validation_auc": validation.get("roc_auc"),
        "cv_accuracy": mean("accuracy"),
        "cv_auc": mean("roc_auc"),
    }


def _actual_cost(settings: Settings, job: Job, fit_seconds: float) -> dict[str, float | None]:
    """aws: billable seconds x price; local: the fit's wall time priced as the chosen instance."""
    from services import cost

    price = _price(settings, job.instance_type or settings.instance_type, job.use_spot)
    if price is None:
        return {}
    if job.target == "aws" and job.billable_seconds is not None:
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


def run_worker(settings: Settings, job_id: str) -> int:
    """The body of ``titanic-sm worker JOB_ID``: run the job, exit 0 on success, 1 on failure."""
    store = JobStore(settings.job_store_path)
    job = store.get(job_id, reap=False)
    # The first beat comes before any heavy import, so a reader sees the worker alive at once.
    store.heartbeat(job.id, os.getpid())
    if job.status in job_store.TERMINAL_STATUSES:
        print(f"job {job.job_name} is already {job.status}; nothing to do", flush=True)
        return 0

    def on_term(signum: int, frame: object) -> None:
        raise _StopRequested()

    signal.signal(signal.SIGTERM, on_term)
    job_settings = _settings_from_job(job, settings)

    def say(stage: str, message: str) -> None:
        print(f"[{stage}] {message}", flush=True)

    try:
        outcome = run_job(job_settings, job.id, progress=say)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"job {outcome.job.job_name} {outcome.job.status}: {outcome.local_path}", flush=True)
    return 0
