"""`titanic-sm run` failures are one line naming the stage and the cause, with exit code 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from services.jobs.store import JobStore
from services.local import stack as local_stack
from services.local.stack import StackEndpoints
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services", "run", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **settings.as_env(), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_docker_daemon_down_is_the_image_stage(
    e2e_settings: Settings, local_stack: StackEndpoints, tmp_path: Path
) -> None:
    before = len(JobStore(e2e_settings.job_store_path).list())
    result = _run(e2e_settings, DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == "error: image: the Docker daemon is not running: run `make docker`"
    assert "Traceback" not in result.stderr
    assert len(JobStore(e2e_settings.job_store_path).list()) == before  # no job was recorded


def test_missing_channel_folder_is_the_data_stage(e2e_settings: Settings, tmp_path: Path) -> None:
    result = _run(e2e_settings, "--channels-dir", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: data: no train.csv in {tmp_path / 'nothing'}"


def test_max_run_zero_is_refused_not_replaced_by_the_default(e2e_settings: Settings) -> None:
    result = _run(e2e_settings, "--max-run", "0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: request: max_run must be between 1 and ")


def test_spot_without_enough_max_wait_is_refused_up_front(e2e_settings: Settings) -> None:
    result = _run(e2e_settings, "--spot", "--max-run", "600", "--max-wait", "300")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: request: max_wait (300 s) must be at least max_run (600 s)"
    )


def test_a_service_that_cannot_start_is_the_stack_stage(tmp_path: Path) -> None:
    # A fresh stack with docker on the PATH but docker-registry off it: the registry cannot start.
    settings = Settings(state_dir=tmp_path / "state", data_dir=tmp_path / "data", runs_dir=tmp_path / "runs")
    only_docker = tmp_path / "only-docker"
    only_docker.mkdir()
    docker = shutil.which("docker")
    assert docker, "the e2e tier needs the docker command"
    (only_docker / "docker").symlink_to(docker)
    try:
        result = _run(settings, PATH=str(only_docker))
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: stack: the Docker registry failed to start on 127.0.0.1:")
        assert last.endswith(": docker-registry is not installed (run `make docker`)")
    finally:
        local_stack.stop(settings)


def test_an_instance_that_fails_its_checks_needs_an_override(e2e_settings: Settings) -> None:
    # The sample quotas give ml.t3.medium a training quota of 0.
    result = _run(e2e_settings, "--instance-type", "ml.t3.medium")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: instance: ml.t3.medium fails the instance checks (quota 0")
    assert last.endswith("(--override-reason)")
    assert "Traceback" not in result.stderr
