"""Ctrl-C in `titanic-sm run` stops the training job itself (StopTrainingJob) and waits until it
is Stopped: the store, the training API and Docker all agree, and nothing runs on, billing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from services import aws
from services.docker_cli import docker
from services.image.images import ImageRef
from services.jobs.store import JobStore
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_the_training_job_and_waits_for_stopped(
    e2e_settings: Settings, training_image: ImageRef
) -> None:
    env = {**os.environ, **e2e_settings.as_env(), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    hp = ("round_delay_seconds=0.5", "early_stopping_rounds=0", "cv_folds=0")
    command = [sys.executable, "-m", "services", "run", *(a for h in hp for a in ("--hp", h))]
    started = time.time()
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    boosting = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if "round " in line:  # the container is training: its lines come back from CloudWatch
                boosting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert boosting.wait(300), "".join(seen[-20:])
        process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        process.wait(timeout=200)
        reader.join(timeout=10)
        assert process.stderr is not None
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[-2000:]
    # The run's last word says what happened (Typer swallows KeyboardInterrupt into a silent 130,
    # so `run` prints the line itself, from the CLI catalogue).
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted (Ctrl-C): nothing runs on"), stderr[-2000:]

    store = JobStore(e2e_settings.job_store_path)
    [job] = [j for j in store.list() if j.created_at >= started]
    assert (job.status, job.secondary_status) == ("Stopped", "Stopped")
    assert "interrupted (Ctrl-C)" in [t.message for t in job.transitions]
    described = aws.client(e2e_settings, "sagemaker").describe_training_job(TrainingJobName=job.job_name)
    assert described["TrainingJobStatus"] == "Stopped"
    assert job.training_job["TrainingJobStatus"] == "Stopped"
    # The control plane removed the container: nothing trains on after the run says it stopped.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _containers_of(job.job_name):
        time.sleep(0.5)
    assert _containers_of(job.job_name) == []


def _containers_of(job_name: str) -> list[str]:
    listed = docker(
        ["ps", "-aq", "--filter", f"label=titanic-sm.training-job={job_name}"], what="docker ps", check=False
    )
    return listed.stdout.split()
