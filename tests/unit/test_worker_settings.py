"""Settings cross the worker boundary one way: the job's row. The worker is started with the job
store and the job id only, and runs with the settings stored with its job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from services.jobs.store import JobStore
from services.settings import Settings
from services.training import launch, worker


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        runs_dir=tmp_path / "runs",
        data_dir=tmp_path,
        bucket="titanic-sm-stored",
        hyperparameters={"num_leaves": "9"},
        tags={"course": "mlops"},
        local_quotas_file=tmp_path / "quotas.json",
        max_job_cost_usd=None,
    )


def test_settings_round_trip_through_the_record(settings: Settings) -> None:
    record = settings.to_record()
    assert record["state_dir"] == str(settings.state_dir.resolve())
    assert Settings.from_record({**record, "a_field_from_a_newer_version": 1}) == settings


class _Spawned:
    """subprocess.Popen, recording what it was asked to start instead of starting it."""

    calls: ClassVar[list[tuple[list[str], dict[str, str]]]] = []
    pid = 4242

    def __init__(self, command: list[str], **kwargs: Any) -> None:
        _Spawned.calls.append((command, kwargs["env"]))

    def wait(self) -> int:
        return 0


def test_the_worker_is_told_the_store_and_the_job_and_reads_its_settings_from_the_row(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess, "Popen", _Spawned)
    monkeypatch.setenv("TITANIC_SM_BUCKET", "titanic-sm-from-the-shell")  # never the worker's
    _Spawned.calls.clear()
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-imported")  # recorded without settings
    launch._spawn_worker(settings, job)
    # The job's worker (no standby was warm), then the standby for the next launch.
    [(command, env), (standby_command, standby_env)] = _Spawned.calls
    store_path = str(settings.job_store_path.resolve())
    assert command == [sys.executable, "-m", "services", "worker", "--job-store", store_path, job.id]
    assert env == {**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "PYTHONUNBUFFERED": "1"}  # no settings
    stack_dir = str(settings.local_stack_dir.resolve())
    assert standby_command == [*command[:-1], "--standby", "--local-stack-dir", stack_dir]
    assert standby_env == env
    # A job without stored settings gets the spawner's, written before the worker starts.
    assert launch.job_settings(store.get(job.id)) == settings
    assert store.get(job.id).worker_pid == _Spawned.pid


def test_a_worker_without_stored_settings_fails_its_job_with_the_reason(settings: Settings) -> None:
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-bare")
    assert worker.run_worker(settings.job_store_path, job.id) == 1
    failed = store.get(job.id)
    assert (failed.status, failed.failure_reason) == (
        "Failed",
        "job titanic-bare has no stored settings to run with",
    )
