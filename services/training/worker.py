"""The worker: runs a recorded job's stages, image → fit → verify → download (``run_job``).

A detached worker (``titanic-sm worker``, started by ``launch``) runs them with the settings stored
with its job (``run_worker``); ``titanic-sm run`` and ``titanic-sm train`` run the same
``run_job`` in-process. Whoever runs the stages holds the job's follower lock, beats into the job
store, and records every transition; the container's log lines go to CloudWatch Logs."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.instance import cost
from services.jobs import store as job_store
from services.jobs.store import Job, JobStore
from services.messages import Notice, notice
from services.settings import Progress, Settings
from services.training import signals
from services.training.errors import (
    JobAlreadyFollowedError,
    JobStoppedError,
    MaxRuntimeExceededError,
    StageError,
    StopRequested,
    TrainingApiUnreachableError,
)
from services.training.follow import describe, follow, following, is_followed, job_is_unknown
from services.training.launch import JobRequest, job_settings
from services.training.stop import stop_and_wait

__all__ = [
    "HEARTBEAT_SECONDS",
    "JobOutcome",
    "preload_sdk",
    "run_job",
    "run_worker",
    "serve_standby",
    "timed",
]

HEARTBEAT_SECONDS = 5.0


@dataclass(frozen=True)
class JobOutcome:
    job: Job
    local_path: Path | None
    metrics: dict[str, Any]
    seconds: dict[str, float]


def serve_standby(job_store_path: Path, local_stack_dir: Path | None) -> int:
    """The body of ``titanic-sm worker --job-store STORE --standby``: wait warm for the next job
    launched into this store, then be its worker (``services.training.standby``); on local, only
    while the stack in ``local_stack_dir`` runs."""
    from services.training import standby

    def warm_up() -> None:
        from services import aws
        from services.training import estimator

        estimator.load_sdk()
        aws.load_service_models()

    def stack_is_up() -> bool:
        if local_stack_dir is None:
            return True
        from services.local import stack as local_stack

        return local_stack.is_running(local_stack_dir)

    return standby.serve(job_store_path, warm_up, run_worker, stack_is_up)


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

    signals.stop_on_sigterm()

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
    with following(settings, job.id), _heartbeat(store, job.id), signals.sigterm_stops_job():
        return _run_stages(settings, store, job, progress, echo)


@dataclass
class _Run:
    """Where a run of the stages is: the stage now running, and each finished stage's seconds."""

    progress: Progress | None
    stage: str = "image"
    seconds: dict[str, float] = field(default_factory=dict)

    def enter(self, stage: str) -> Callable[..., None]:
        self.stage = stage
        return timed(stage, self.progress, self.seconds)


def _run_stages(
    settings: Settings,
    store: JobStore,
    job: Job,
    progress: Progress | None,
    echo: Callable[[str], None] | None,
) -> JobOutcome:
    """The stages, and how the job is recorded when they end other than Completed."""
    run = _Run(progress)
    try:
        return _stages(settings, store, job, run, echo)
    except StopRequested as stop:
        signals.handled()  # handled: the follow loop must not raise it again
        if run.stage == "fit":  # SIGTERM to the worker while its job runs: stop the job itself too
            stop_and_wait(settings, store, job, "stop requested")
        store.set_status(job.id, "Stopped", secondary_status="Stopped", message="stopped by the user")
        raise JobStoppedError(run.stage, "stopped by the user", by_signal=stop.by_signal) from None
    except KeyboardInterrupt:  # Ctrl-C on `titanic-sm run`: the job must not run on, billing
        signals.handled()
        if run.stage == "fit":
            stop_and_wait(settings, store, job, "interrupted (Ctrl-C)")
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
        error = StageError.wrapping(run.stage, exc)
        _record_failure(store, job.id, str(error))
        raise error from exc


def _stages(
    settings: Settings, store: JobStore, job: Job, run: _Run, echo: Callable[[str], None] | None
) -> JobOutcome:
    """image → fit → verify → download, each timed; the job recorded Completed at the end."""
    from services.results import artifacts

    if job.status == "Pending":  # an adopted job is past this and keeps its secondary status
        store.set_status(job.id, "InProgress", secondary_status="Starting", message="worker started")
    # An adopted job trains the image its SageMaker job was created with.
    image_uri = job.image_uri or job.training_job.get("AlgorithmSpecification", {}).get("TrainingImage")
    if not image_uri:
        image_uri = _image(settings, store, job, run)
    job = store.get(job.id)
    done = run.enter("fit")
    artifact_uri = _fit(settings, store, job, image_uri, echo)
    done()
    done = run.enter("verify")
    store.update(job.id, artifact_uri=artifact_uri)
    metrics, data = artifacts.fetch_verified(settings, artifact_uri, job.hyperparameters)
    artifacts.record_trusted_model(settings, store, job, artifact_uri, data)  # predict's trust
    done()
    done = run.enter("download")
    saved = artifacts.save_run(
        settings,
        job.job_name,
        artifact_uri,
        data,
        metrics,
        job.hyperparameters,
        summary=_run_summary(settings, job, image_uri, run.seconds),
    )
    results: dict[str, Any] = {
        **artifacts.headline_scores(saved.metrics),
        **cost.job_actual(settings, store.get(job.id), run.seconds.get("fit", 0.0)),
    }
    final = store.set_status(
        job.id,
        "Completed",
        secondary_status="Completed",
        metrics=saved.metrics,
        local_path=str(saved.local_path),
        training_job={**store.get(job.id).training_job, **_peak_memory(settings, job)},
        **results,
    )
    done()
    _add_cost_to_run(saved.run_manifest, final)
    return JobOutcome(final, saved.local_path, saved.metrics, run.seconds)


def _image(settings: Settings, store: JobStore, job: Job, run: _Run) -> str:
    """Build and push the training image (or find it pushed); record it pinned by digest."""
    from services.image import images

    done = run.enter("image")
    ref = images.ensure_image(settings, run.progress)
    run.seconds.update({f"image.{k}": v for k, v in ref.seconds.items()})
    store.update(job.id, image_uri=ref.uri_with_digest)
    done()
    return ref.uri_with_digest


def _run_summary(settings: Settings, job: Job, image_uri: str, seconds: dict[str, float]) -> dict[str, Any]:
    """What run.json says of where and how the job ran."""
    return {
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


def _fit(
    settings: Settings, store: JobStore, job: Job, image_uri: str, echo: Callable[[str], None] | None
) -> str:
    """CreateTrainingJob through ``Estimator.fit(wait=False)``, then follow the job to its end;
    return the S3 URI of model.tar.gz. The same calls on both targets: on local the SageMaker API
    is the local stack's training control plane."""
    from botocore.exceptions import ClientError

    from services.training import estimator as training

    try:
        describe(settings, job.job_name)  # an adopted job: its training job is already there
    except ClientError as exc:
        if not job_is_unknown(exc):
            raise
        _wait_for_sdk()
        tags = {"project": "titanic-sm", "titanic-sm-job-id": job.id, "titanic-sm-target": settings.target}
        request = JobRequest.of(job).fit_request(image_uri, tags)
        # From here until follow records ``training_job`` only the API knows whether the job
        # exists: the mark tells the reaper to leave a dead worker's job to ``jobs.sync``.
        store.update(job.id, create_requested_at=time.time())
        training.start_fit(settings, request)
    return follow(settings, store, job, echo)


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


def timed(stage: str, progress: Progress | None, seconds: dict[str, float]) -> Callable[..., None]:
    """Report ``stage`` started; the returned ``done(note)`` records its seconds and reports them.
    The reports are Notices (English as the string): whoever prints them words them in its language."""
    started = time.monotonic()
    if progress is not None:
        progress(stage, notice("progress.started"))

    def done(note: str = "") -> None:
        seconds[stage] = time.monotonic() - started
        if progress is not None:
            progress(stage, _done_line(seconds[stage], note))

    return done


def _done_line(seconds: float, note: str) -> Notice:
    """``done in 3.8 s`` or ``done in 3.8 s: <note>``; a note that is a Notice is worded with it."""
    return (
        notice("progress.done_note", seconds=seconds, note=note)
        if note
        else notice("progress.done", seconds=seconds)
    )


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
        from services.training import estimator

        with contextlib.suppress(Exception):
            estimator.load_sdk()

    _sdk_preload = threading.Thread(target=load, name="sagemaker-preload", daemon=True)
    _sdk_preload.start()


def _wait_for_sdk() -> None:
    if _sdk_preload is not None:
        _sdk_preload.join()


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


def _add_cost_to_run(manifest: Path, job: Job) -> None:
    """run.json gets the cost too (known only once the job is recorded Completed)."""
    import json

    document = json.loads(manifest.read_text())
    document["cost"] = {
        "estimated_usd": job.estimated_cost,
        "actual_usd": job.actual_cost,
        "spot_savings": job.spot_savings,
        "basis": cost.cost_basis(job),
    }
    document["status"] = job.status
    manifest.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def _record_failure(store: JobStore, job_id: str, reason: str) -> None:
    current = store.get(job_id)
    if current.status == "Stopping":  # the failure is the stop's doing
        store.set_status(job_id, "Stopped", secondary_status="Stopped", message=reason)
    else:
        store.set_status(job_id, "Failed", secondary_status="Failed", failure_reason=reason, message=reason)
