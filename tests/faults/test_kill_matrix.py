"""The kill matrix: each process of a local job gets SIGKILL or SIGTERM while the job trains, and
the end state tells the truth: a terminal record in the job store that matches what the training
API ran (adopted by ``jobs.sync`` where the API still holds the job), and no training container
left running once the record is terminal.

| process killed        | SIGKILL                              | SIGTERM                            |
|-----------------------|--------------------------------------|------------------------------------|
| worker                | sync adopts it: Completed            | the user's stop: Stopped           |
| `titanic-sm run`      | sync adopts it: Completed            | the user's stop: Stopped, exit 143 |
| (`jobs stop` instead) | the run says stopped, exits 3        |                                    |
| control plane         | restarted, adopts the container      | the same                           |
| moto                  | restarted with its recording         | the same                           |
| registry              | restarted; the job never needed it   | the same                           |
| training container    | Failed, exit code 137 named          | Failed, exit code 143 named        |
| worker, create window | sync asks by name (see below)        |                                    |

The create window: the worker dies between asking for CreateTrainingJob and recording the job. The
reaper leaves it; ``sync`` asks DescribeTrainingJob. Created: a new worker follows it to Completed
(after ``jobs stop``: Stopped). Never created: Failed, the reason naming the job. A real SIGKILL
lands in the window (which side of the call it hits is the race's); plain-boto3 cases make each
branch certain.

One local stack serves the module (its services are restarted on demand by the next client,
so killing one leaves the stack usable for the next case); every case cleans up what it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_home import untag_images_of

from services.data import dataset, storage
from services.image.images import ImageRef, ensure_image
from services.jobs import store as jobs
from services.jobs import sync as job_sync
from services.jobs.store import Job, JobStore
from services.local import stack
from services.local.control_plane.models import CONTAINER_LABEL
from services.settings import Settings
from services.training import follow, launch, stop

REPO_ROOT = Path(__file__).resolve().parents[2]
# About 15 s of boosting: long enough to be killed mid-way, short enough to finish after adoption.
SLOW = {"n_estimators": "60", "round_delay_seconds": "0.25", "early_stopping_rounds": "0", "cv_folds": "0"}
JOB_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def kill_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("kill-matrix")
    settings = Settings(
        target="local",
        state_dir=root / "state",
        runs_dir=root / "runs",
        data_dir=root / "data",
        bucket="titanic-sm-faults",
        local_stop_grace_seconds=5,
    )
    try:
        yield settings
    finally:
        _end_workers(settings)
        registries = [s.address for s in stack.status(settings) if s.name == "registry" and s.address]
        stack.stop(settings)
        for registry in registries:
            untag_images_of(registry)


@pytest.fixture(scope="module")
def image(kill_settings: Settings) -> ImageRef:
    stack.ensure_running(kill_settings)
    return ensure_image(kill_settings)


@pytest.fixture(scope="module")
def channels(kill_settings: Settings, image: ImageRef) -> dict[str, str]:
    prepared = dataset.prepare(out_dir=kill_settings.data_dir / "kill-matrix")
    return storage.upload_channels(kill_settings, prepared.train_path, prepared.validation_path).channels()


def _end_workers(settings: Settings) -> None:
    """SIGKILL the workers this module's jobs started that still run (never any other process)."""
    try:
        recorded = JobStore(settings.job_store_path).list(limit=1000)
    except Exception:  # no store: no worker was ever started
        return
    for job in recorded:
        if job.worker_pid and _is_worker_of(job.worker_pid, job.id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.worker_pid, signal.SIGKILL)


def _is_worker_of(pid: int, job_id: str) -> bool:
    try:
        # A warm standby that took the job has retitled itself as the job's worker: one string.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return False
    return b"services" in cmdline and b"worker" in cmdline and job_id.encode() in cmdline


def _containers(job_name: str, running_only: bool = True) -> list[str]:
    which = [] if running_only else ["-a"]
    listed = subprocess.run(
        ["docker", "ps", *which, "-q", "--filter", f"label={CONTAINER_LABEL}={job_name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def _wait(what: str, check: Callable[[], object], timeout: float = JOB_TIMEOUT, every: float = 0.3) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _wait_training(store: JobStore, job_id: str) -> Job:
    """The job's container runs and has boosted for a moment (its first rounds are logged)."""

    def training() -> Job | None:
        job = store.get(job_id)
        assert job.is_active, (job.status, job.failure_reason)
        if job.secondary_status == "Training" and _containers(job.job_name):
            return job
        return None

    job = _wait("the container to train", training)
    assert isinstance(job, Job)
    time.sleep(2.0)  # a few boosting rounds: the kill lands mid-training
    return job


def _wait_terminal(settings: Settings, job_id: str, adopt: bool = False) -> Job:
    """The job's terminal record; with ``adopt``, ``jobs.sync`` runs as a reader of the store would."""
    store = JobStore(settings.job_store_path)

    def ended() -> Job | None:
        if adopt:
            job_sync.sync(settings, store)
        job = store.get(job_id)
        return None if job.is_active else job

    job = _wait(f"job {job_id} to end", ended, every=1.0)
    assert isinstance(job, Job)
    return job


def _assert_no_container_runs(job: Job) -> None:
    # The control plane removes an ended job's container right after recording its end.
    _wait(f"{job.job_name}'s container to go", lambda: not _containers(job.job_name, running_only=False), 60)


def _assert_completed(settings: Settings, job: Job) -> None:
    assert job.status == "Completed", (job.status, job.failure_reason)
    assert job.training_job["TrainingJobStatus"] == "Completed"
    run = json.loads((settings.runs_dir / job.job_name / "run.json").read_text())
    assert run["status"] == "Completed"
    assert job.model_sha256 and job.local_path


def _assert_training_api_says(settings: Settings, job: Job, status: str) -> dict[str, object]:
    from services import aws

    described: dict[str, object] = aws.client(settings, "sagemaker").describe_training_job(
        TrainingJobName=job.job_name
    )
    assert described["TrainingJobStatus"] == status, described.get("FailureReason")
    return described


def _launch(settings: Settings, channels: dict[str, str], image: ImageRef) -> str:
    request = launch.LaunchRequest(channels=channels, hyperparameters=SLOW, image_uri=image.uri_with_digest)
    return launch.launch(settings, request)


def _service_pid(settings: Settings, name: str) -> int:
    [service] = [s for s in stack.status(settings) if s.name == name]
    assert service.running and service.pid, service
    return service.pid


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_worker_killed(kill_settings: Settings, channels: dict[str, str], image: ImageRef, sig: int) -> None:
    store = JobStore(kill_settings.job_store_path)
    job_id = _launch(kill_settings, channels, image)
    job = _wait_training(store, job_id)
    pid = job.worker_pid
    assert pid and _is_worker_of(pid, job_id)
    os.kill(pid, sig)
    if sig == signal.SIGKILL:
        # Nobody recorded the end: the next reader adopts the job (a new worker follows it).
        ended = _wait_terminal(kill_settings, job_id, adopt=True)
        assert ended.worker_pid != pid
        _assert_completed(kill_settings, ended)
        _assert_training_api_says(kill_settings, ended, "Completed")
    else:
        # SIGTERM to a worker is the user's stop: the training job itself is stopped.
        ended = _wait_terminal(kill_settings, job_id)
        assert (ended.status, ended.secondary_status) == ("Stopped", "Stopped"), ended.failure_reason
        _assert_training_api_says(kill_settings, ended, "Stopped")
    _assert_no_container_runs(ended)


def _run_command(settings: Settings) -> subprocess.Popen[str]:
    env = {**os.environ, **settings.as_env(), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    hp = [a for key, value in SLOW.items() for a in ("--hp", f"{key}={value}")]
    return subprocess.Popen(
        [sys.executable, "-m", "services", "run", *hp],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as in its own terminal: the test signals only it
    )


def _training_run(settings: Settings, store: JobStore) -> tuple[subprocess.Popen[str], Job]:
    """A foreground `titanic-sm run`, and its job once the container is training."""
    before = {j.id for j in store.list(limit=1000)}
    process = _run_command(settings)
    try:

        def its_job() -> Job | None:
            assert process.poll() is None, process.communicate()
            new = [j for j in store.list(limit=1000) if j.id not in before]
            return new[0] if new else None

        found = _wait("the run's job", its_job)
        assert isinstance(found, Job)
        return process, _wait_training(store, found.id)
    except BaseException:
        process.kill()
        process.communicate()
        raise


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_foreground_run_killed(
    kill_settings: Settings, channels: dict[str, str], image: ImageRef, sig: int
) -> None:
    store = JobStore(kill_settings.job_store_path)
    process, job = _training_run(kill_settings, store)
    try:
        assert job.worker_pid == process.pid  # the run beats for its own job
        process.send_signal(sig)
        _, err = process.communicate(timeout=200)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        ended = _wait_terminal(kill_settings, job.id, adopt=True)
        _assert_completed(kill_settings, ended)
    else:
        # SIGTERM (a closed terminal, `kill`) stops the job as Ctrl-C does, and says so in one line.
        assert process.returncode == 143, err[-2000:]
        last = err.strip().splitlines()[-1]
        assert "stopped" in last and "error" not in last, err[-2000:]
        ended = store.get(job.id)
        assert (ended.status, ended.secondary_status) == ("Stopped", "Stopped"), ended.failure_reason
        _assert_training_api_says(kill_settings, ended, "Stopped")
    _assert_no_container_runs(ended)


def test_a_run_stopped_from_another_terminal_says_stopped_and_exits_3(
    kill_settings: Settings, channels: dict[str, str], image: ImageRef
) -> None:
    store = JobStore(kill_settings.job_store_path)
    process, job = _training_run(kill_settings, store)
    try:
        env = {**os.environ, **kill_settings.as_env()}
        stopped = subprocess.run(
            [sys.executable, "-m", "services", "jobs", "stop", job.id],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stopped.returncode == 0 and "Stopping" in stopped.stdout, stopped.stderr
        _, err = process.communicate(timeout=200)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 3, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("the job was stopped (titanic-sm jobs stop"), err[-2000:]
    ended = store.get(job.id)
    assert (ended.status, ended.secondary_status) == ("Stopped", "Stopped"), ended.failure_reason
    _assert_training_api_says(kill_settings, ended, "Stopped")
    _assert_no_container_runs(ended)


@pytest.mark.parametrize("service", [stack.CONTROL_PLANE, stack.MOTO, stack.REGISTRY])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_stack_service_killed(
    kill_settings: Settings, channels: dict[str, str], image: ImageRef, service: str, sig: int
) -> None:
    store = JobStore(kill_settings.job_store_path)
    job_id = _launch(kill_settings, channels, image)
    _wait_training(store, job_id)
    pid = _service_pid(kill_settings, service)
    os.kill(pid, sig)
    # The worker's next call to the stack starts what is gone; the job trains on meanwhile and
    # its end is the training API's, as if nothing had happened.
    ended = _wait_terminal(kill_settings, job_id)
    _assert_completed(kill_settings, ended)
    _assert_training_api_says(kill_settings, ended, "Completed")
    _assert_no_container_runs(ended)
    assert all(s.healthy for s in stack.status(kill_settings)), stack.status(kill_settings)
    assert _service_pid(kill_settings, service) != pid


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_training_container_killed(
    kill_settings: Settings, channels: dict[str, str], image: ImageRef, sig: int
) -> None:
    store = JobStore(kill_settings.job_store_path)
    job_id = _launch(kill_settings, channels, image)
    job = _wait_training(store, job_id)
    [container] = _containers(job.job_name)
    name = signal.Signals(sig).name
    subprocess.run(["docker", "kill", "--signal", name, container], capture_output=True, check=True)
    ended = _wait_terminal(kill_settings, job_id)
    # Nobody asked it to stop: as on SageMaker, a container that dies is a failed job, with why.
    # The trainer turns SIGTERM into a flag checked at safe points, so a SIGTERM that lands after
    # the last one lets it finish: then Completed, with its model. Either way the store says what
    # the training API says.
    described = _assert_training_api_says(kill_settings, ended, ended.status)
    code = 128 + sig
    if sig == signal.SIGKILL or ended.status != "Completed":
        assert ended.status == "Failed", (ended.status, ended.failure_reason)
        assert ended.failure_reason and f"exit code: {code}" in ended.failure_reason, ended.failure_reason
        assert f"exit code: {code}" in str(described["FailureReason"])
    else:
        _assert_completed(kill_settings, ended)
    _assert_no_container_runs(ended)


# -- pauses: SIGSTOP past every timeout, then SIGCONT -------------------------------------------
# The readers' heartbeat timeout, shortened here (it is 90 s) so a pause outlasts it quickly; the
# worker still beats every worker.HEARTBEAT_SECONDS.
SHORT_HEARTBEAT_TIMEOUT = 8.0
WORKER_PAUSE_SECONDS = 25.0
# Past botocore's 60 s read timeout: the worker's DescribeTrainingJob times out and is asked again.
CONTROL_PLANE_PAUSE_SECONDS = 70.0


def _followers_of(job_id: str) -> list[int]:
    """Every process on this host running the job's stages as a worker."""
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _is_worker_of(int(p.name), job_id)
    ]


@contextlib.contextmanager
def _paused(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_a_paused_worker_is_neither_failed_nor_adopted_twice(
    kill_settings: Settings, channels: dict[str, str], image: ImageRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "HEARTBEAT_TIMEOUT_SECONDS", SHORT_HEARTBEAT_TIMEOUT)
    store = JobStore(kill_settings.job_store_path)
    job_id = _launch(kill_settings, channels, image)
    job = _wait_training(store, job_id)
    pid = job.worker_pid
    assert pid and _followers_of(job_id) == [pid]
    with _paused(pid):
        deadline = time.monotonic() + WORKER_PAUSE_SECONDS
        while time.monotonic() < deadline:
            # What every reader does (the Jobs page, `jobs list`): sync, then read with the reaper.
            job_sync.sync(kill_settings, store)
            seen = store.get(job_id)
            assert seen.is_active, (seen.status, seen.failure_reason)
            assert _followers_of(job_id) == [pid], "a second worker was started for a paused one"
            time.sleep(2.0)
        assert time.time() - (store.get(job_id).heartbeat_at or 0) > SHORT_HEARTBEAT_TIMEOUT
    ended = _wait_terminal(kill_settings, job_id, adopt=True)
    _assert_completed(kill_settings, ended)
    assert ended.worker_pid == pid  # the one worker finished its own job
    log = launch.worker_log_path(kill_settings, job_id).read_text()
    assert log.count(f"job {ended.job_name} Completed") == 1, log[-2000:]
    assert "nothing to do" not in log
    assert [t.status for t in ended.transitions].count("Completed") == 1
    _assert_no_container_runs(ended)


def test_a_paused_control_plane_fails_nothing(
    kill_settings: Settings, channels: dict[str, str], image: ImageRef
) -> None:
    store = JobStore(kill_settings.job_store_path)
    job_id = _launch(kill_settings, channels, image)
    job = _wait_training(store, job_id)
    pid = _service_pid(kill_settings, stack.CONTROL_PLANE)
    with _paused(pid):
        deadline = time.monotonic() + CONTROL_PLANE_PAUSE_SECONDS
        while time.monotonic() < deadline:
            seen = store.get(job_id)  # the reaper runs; the worker beats on, waiting for an answer
            assert seen.is_active, (seen.status, seen.failure_reason)
            time.sleep(2.0)
    ended = _wait_terminal(kill_settings, job_id)
    _assert_completed(kill_settings, ended)
    assert ended.worker_pid == job.worker_pid
    assert [t.status for t in ended.transitions].count("Completed") == 1
    _assert_no_container_runs(ended)


# -- the orphan window: the worker dies between sending CreateTrainingJob and recording the job ------


def _orphaned(settings: Settings, channels: dict[str, str], image: ImageRef) -> Job:
    """A job as its worker leaves it when killed right after asking for CreateTrainingJob: marked
    ``create_requested_at``, InProgress, ``training_job`` still empty, its worker's pid dead."""
    store = JobStore(settings.job_store_path)
    request = launch.LaunchRequest(channels=channels, hyperparameters=SLOW, image_uri=image.uri_with_digest)
    job, created = launch.record_job(settings, request)
    assert created
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.heartbeat(job.id, gone.pid)
    store.set_status(job.id, "InProgress", secondary_status="Starting", message="worker started")
    return store.update(job.id, create_requested_at=time.time())


def _create_as_the_worker_did(settings: Settings, job: Job) -> None:
    """CreateTrainingJob under the stored job's name, by plain boto3 at the control plane: the call
    the dead worker's SDK made (same image, channels, hyperparameters and output path)."""
    import boto3

    from container.metrics import METRIC_DEFINITIONS
    from services.training import estimator

    sagemaker = boto3.client(
        "sagemaker",
        endpoint_url=stack.running_endpoints(settings).sagemaker_url,
        region_name=settings.region,
        **stack.LOCAL_CREDENTIALS,
    )
    sagemaker.create_training_job(
        TrainingJobName=job.job_name,
        RoleArn=settings.role_arn,
        AlgorithmSpecification={
            "TrainingImage": job.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        HyperParameters=dict(job.hyperparameters),
        InputDataConfig=[
            {
                "ChannelName": name,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
                "ContentType": "text/csv",
            }
            for name, uri in job.channels.items()
        ],
        OutputDataConfig={"S3OutputPath": estimator.output_path(settings)},
        ResourceConfig={"InstanceType": job.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )


@pytest.mark.parametrize("at_the_api", ["created", "created-then-stopped", "never-created"])
def test_worker_killed_between_create_and_record(
    kill_settings: Settings, channels: dict[str, str], image: ImageRef, at_the_api: str
) -> None:
    store = JobStore(kill_settings.job_store_path)
    job = _orphaned(kill_settings, channels, image)
    if at_the_api != "never-created":
        _create_as_the_worker_did(kill_settings, job)
    # The reaper cannot know whether the API has the job: it leaves it to sync.
    assert jobs.refresh(store) == [] and store.get(job.id).is_active
    if at_the_api == "never-created":
        job_sync.sync(kill_settings, store)  # the request may still be on its way: not yet
        assert store.get(job.id).is_active
        store.update(job.id, create_requested_at=time.time() - job_sync.CREATE_SETTLE_SECONDS - 1)
        assert job_sync.sync(kill_settings, store) == [job.id]
        ended = store.get(job.id)
        assert ended.status == "Failed"
        assert ended.failure_reason == (
            f"the worker pid {job.worker_pid} died before SageMaker had training job {job.job_name}: "
            "DescribeTrainingJob finds no such job, so nothing ran"
        )
        assert not _containers(job.job_name, running_only=False)
        return
    if at_the_api == "created-then-stopped":
        # `jobs stop` with the worker dead: StopTrainingJob there, and sync's follower records it.
        assert stop.stop(kill_settings, job.id).status == "Stopping"
        ended = _wait_terminal(kill_settings, job.id, adopt=True)
        assert (ended.status, ended.secondary_status) == ("Stopped", "Stopped"), ended.failure_reason
        _assert_training_api_says(kill_settings, ended, "Stopped")
    else:
        ended = _wait_terminal(kill_settings, job.id, adopt=True)
        _assert_completed(kill_settings, ended)
        _assert_training_api_says(kill_settings, ended, "Completed")
    assert ended.worker_pid != job.worker_pid  # a new worker followed it to its end
    _assert_no_container_runs(ended)


def test_worker_killed_in_the_create_window(
    kill_settings: Settings,
    channels: dict[str, str],
    image: ImageRef,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real SIGKILL once the worker has marked the job and before it records ``training_job``.
    Whether its CreateTrainingJob got out first is the race's to decide: either way the record
    ends as the training API tells it."""
    from botocore.exceptions import ClientError

    from services import aws

    monkeypatch.setattr(job_sync, "CREATE_SETTLE_SECONDS", 3.0)  # this process's sync only
    store = JobStore(kill_settings.job_store_path)
    job_id = _launch(kill_settings, channels, image)

    def marked() -> Job | None:
        job = store.get(job_id)
        assert job.is_active and not job.training_job, (job.status, job.failure_reason)
        return job if job.create_requested_at is not None else None

    job = _wait("the worker to ask for CreateTrainingJob", marked, every=0.005)
    assert isinstance(job, Job) and job.worker_pid and _is_worker_of(job.worker_pid, job_id)
    os.kill(job.worker_pid, signal.SIGKILL)
    assert not store.get(job_id).training_job, "the kill came after the window"
    assert jobs.refresh(store) == []  # not the reaper's to decide
    ended = _wait_terminal(kill_settings, job_id, adopt=True)
    try:
        described = aws.client(kill_settings, "sagemaker").describe_training_job(TrainingJobName=job.job_name)
    except ClientError as exc:
        assert follow.job_is_unknown(exc), exc
        assert ended.status == "Failed" and ended.failure_reason == (
            f"the worker pid {job.worker_pid} died before SageMaker had training job {job.job_name}: "
            "DescribeTrainingJob finds no such job, so nothing ran"
        )
    else:
        assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
        _assert_completed(kill_settings, ended)
        assert ended.worker_pid != job.worker_pid
    _assert_no_container_runs(ended)
