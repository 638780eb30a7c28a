"""The detached worker on the local stack, through the code path a real account runs: launch
returns at once, CreateTrainingJob goes to the training control plane, lines stream into
CloudWatch while the container runs, SageMaker's own transitions are recorded; Stop is
StopTrainingJob; max_run is the control plane's MaxRuntimeExceeded."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.data import dataset, storage
from services.docker_cli import docker
from services.image.images import ImageRef
from services.jobs.store import Job, JobStore
from services.settings import Settings
from services.training import launch, logs, stop


@pytest.fixture(scope="module")
def channels(e2e_settings: Settings, training_image: ImageRef) -> dict[str, str]:
    prepared = dataset.prepare(out_dir=e2e_settings.data_dir / "worker-e2e")
    return storage.upload_channels(e2e_settings, prepared.train_path, prepared.validation_path).channels()


def _wait(store: JobStore, job_id: str, done: Callable[[Job], bool], timeout: float = 180) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if done(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"timed out: {store.get(job_id)}")


def _lines_until(
    settings: Settings, job_name: str, wanted: Callable[[str], bool], timeout: float = 180
) -> list[str]:
    lines: list[str] = []
    token: str | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = logs.read_events(settings, job_name, token)
        token = page.next_token
        lines += [e.message for e in page.events]
        if any(wanted(line) for line in lines):
            return lines
        time.sleep(0.3)
    raise AssertionError(f"no wanted line in {lines[-20:]}")


def _containers_of(job_name: str) -> list[str]:
    found = []
    for container in docker(["ps", "-q"], what="docker ps").stdout.split():
        env = docker(["inspect", "--format", "{{json .Config.Env}}", container], what="inspect", check=False)
        if f'"TRAINING_JOB_NAME={job_name}"' in env.stdout:
            found.append(container)
    return found


def test_launch_streams_lines_while_running_and_completes(
    e2e_settings: Settings, training_image: ImageRef, channels: dict[str, str]
) -> None:
    request = launch.LaunchRequest(
        channels=channels,
        hyperparameters={"num_leaves": "7", "round_delay_seconds": "0.03", "cv_folds": "0"},
        request_key="e2e-worker-complete",
    )
    started = time.monotonic()
    job_id = launch.launch(e2e_settings, request)
    assert time.monotonic() - started < 10
    assert launch.launch(e2e_settings, request) == job_id  # a refresh re-sends the same key
    store = JobStore(e2e_settings.job_store_path)
    job = store.get(job_id)
    # A line from inside the container reaches the Logs API while the job is still running.
    _lines_until(e2e_settings, job.job_name, lambda line: "trainer:" in line)
    assert store.get(job_id).status == "InProgress"
    done = _wait(store, job_id, lambda j: not j.is_active)
    assert done.status == "Completed", launch.worker_log_path(e2e_settings, job_id).read_text()[-3000:]
    assert done.image_uri == training_image.uri_with_digest
    assert done.validation_auc is not None and done.local_path
    # The stored duration is the container's run (what billing sees), not just the in-container fit.
    assert done.training_seconds is not None and done.training_seconds > done.metrics["training_seconds"]
    assert done.billable_seconds is not None and done.billable_seconds > 0
    # SageMaker's own secondary statuses, in SageMaker's order, with its messages.
    assert [t.secondary_status for t in done.transitions][1:] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    described = done.training_job
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]][:4] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
    ]
    assert all(t.get("StatusMessage") for t in described["SecondaryStatusTransitions"])
    assert {m["MetricName"] for m in described["FinalMetricDataList"]} >= {
        "validation:auc",
        "validation:accuracy",
    }
    final = logs.read_events(e2e_settings, done.job_name)
    assert any(e.message.startswith("validation:auc=") for e in final.events)


def test_stop_is_stop_training_job_and_ends_the_container(
    e2e_settings: Settings, training_image: ImageRef, channels: dict[str, str]
) -> None:
    # round_delay_seconds keeps the container training long enough to be stopped mid-way.
    request = launch.LaunchRequest(
        channels=channels,
        hyperparameters={"round_delay_seconds": "0.5", "early_stopping_rounds": "0", "cv_folds": "0"},
    )
    job_id = launch.launch(e2e_settings, request)
    store = JobStore(e2e_settings.job_store_path)
    job = store.get(job_id)
    _lines_until(e2e_settings, job.job_name, lambda line: "round " in line)
    assert _containers_of(job.job_name), "the container should be running"
    asked = stop.stop(e2e_settings, job_id)
    assert asked.status == "Stopping"
    assert stop.stop(e2e_settings, job_id).status == "Stopping"  # asked once, idempotent
    stopped = _wait(store, job_id, lambda j: not j.is_active, timeout=60)
    assert (stopped.status, stopped.secondary_status) == ("Stopped", "Stopped")
    assert "Stopping" in [t.status for t in stopped.transitions]
    assert stopped.training_job["TrainingJobStatus"] == "Stopped"
    assert _containers_of(job.job_name) == []
    time.sleep(1)
    assert store.get(job_id).status == "Stopped"  # the ending worker did not overwrite it


def test_two_jobs_at_once_both_complete(
    e2e_settings: Settings, training_image: ImageRef, channels: dict[str, str]
) -> None:
    # Side by side, each in its own container. The sample quotas allow one job per type, as a new
    # account might, so the two use two types (a second ml.m5.large is ResourceLimitExceeded).
    ids = [
        launch.launch(
            e2e_settings,
            launch.LaunchRequest(
                channels=channels,
                instance_type=instance_type,
                hyperparameters={"num_leaves": str(leaves), "cv_folds": "0"},
            ),
        )
        for leaves, instance_type in ((5, "ml.m5.large"), (9, "ml.m5.xlarge"))
    ]
    store = JobStore(e2e_settings.job_store_path)
    finished = [_wait(store, job_id, lambda j: not j.is_active, timeout=300) for job_id in ids]
    for job in finished:
        assert job.status == "Completed", launch.worker_log_path(e2e_settings, job.id).read_text()[-3000:]
    assert {job.metrics["hyperparameters"]["num_leaves"] for job in finished} == {5, 9}
    assert len({job.job_name for job in finished}) == 2


def test_max_run_stops_the_job_as_sagemaker_does(
    e2e_settings: Settings, training_image: ImageRef, channels: dict[str, str]
) -> None:
    # The control plane enforces StoppingCondition.MaxRuntimeInSeconds, as SageMaker does.
    request = launch.LaunchRequest(
        channels=channels,
        hyperparameters={"round_delay_seconds": "0.5", "early_stopping_rounds": "0", "cv_folds": "0"},
        max_run_seconds=4,
    )
    job_id = launch.launch(e2e_settings, request)
    store = JobStore(e2e_settings.job_store_path)
    job = _wait(store, job_id, lambda j: not j.is_active)
    assert (job.status, job.secondary_status) == ("Stopped", "MaxRuntimeExceeded")
    assert job.failure_reason == (
        f"fit: job {job.job_name} ran longer than max_run (MaxRuntimeInSeconds) and SageMaker stopped it"
    )
    assert _containers_of(job.job_name) == []
    lines = [e.message for e in logs.read_events(e2e_settings, job.job_name).events]
    assert any("trainer:" in line for line in lines), lines


def _standbys_of(settings: Settings) -> list[int]:
    """The live warm workers (``worker --standby``) of the settings' job store."""
    job_store = str(settings.job_store_path.resolve()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--standby" in cmdline and job_store in cmdline:
                found.append(int(entry.name))
    return found


def test_a_launch_readies_a_warm_worker_and_the_next_launch_runs_on_it(
    e2e_settings: Settings, training_image: ImageRef, channels: dict[str, str]
) -> None:
    store = JobStore(e2e_settings.job_store_path)
    request = launch.LaunchRequest(channels=channels, hyperparameters={"cv_folds": "0"})
    first = _wait(store, launch.launch(e2e_settings, request), lambda j: not j.is_active)
    assert first.status == "Completed"
    deadline = time.monotonic() + 60
    while not (ready := _standbys_of(e2e_settings)) or f"(pid {ready[0]})" not in _standby_log(e2e_settings):
        assert time.monotonic() < deadline, _standby_log(e2e_settings)[-2000:]
        time.sleep(0.2)
    [standby_pid] = ready  # one per job store, and it says it is ready
    second_id = launch.launch(e2e_settings, request)
    assert store.get(second_id).worker_pid == standby_pid  # it took the job: nothing was spawned
    # It is that job's worker now, and ps shows it with a spawned worker's command line.
    spawned = [
        b"worker",
        b"--job-store",
        str(e2e_settings.job_store_path.resolve()).encode(),
        second_id.encode(),
    ]
    deadline = time.monotonic() + 30
    while (cmdline := Path(f"/proc/{standby_pid}/cmdline").read_bytes().replace(b"\0", b" ").split())[
        -4:
    ] != spawned:
        assert time.monotonic() < deadline, cmdline
        time.sleep(0.05)
    second = _wait(store, second_id, lambda j: not j.is_active)
    assert second.status == "Completed", launch.worker_log_path(e2e_settings, second_id).read_text()[-3000:]
    assert second.validation_auc is not None
    assert f"job {second.job_name} Completed" in launch.worker_log_path(e2e_settings, second_id).read_text()


def _standby_log(settings: Settings) -> str:
    path = launch.standby_log_path(settings)
    return path.read_text() if path.exists() else ""
