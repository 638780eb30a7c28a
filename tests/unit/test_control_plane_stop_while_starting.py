"""StopTrainingJob that lands while a job is still Starting: the job ends Stopped, never Failed.

CI caught the race once: the stop moved the job to Stopping while the runner was laying out
`/opt/ml`, and the runner's next edge (Stopping -> Downloading) broke the job as an internal
error. The runner here is the real one; only Docker is absent, because a job stopped before
Downloading never reaches it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from services.local.control_plane.models import JobStore, TrainingJob
from services.local.control_plane.runner import Runner, RunnerConfig


class NoDocker:
    """Any container call fails the test: a job stopped while Starting must not create one."""

    class containers:  # the docker SDK's attribute name
        @staticmethod
        def list(**_: Any) -> list[Any]:
            return []

        @staticmethod
        def create(*_: Any, **__: Any) -> Any:
            raise AssertionError("a container was created for a job stopped while Starting")


def _runner(tmp_path: Path, store: JobStore) -> Runner:
    runner = Runner.__new__(Runner)  # no Docker or moto clients: this path needs neither
    runner.config = RunnerConfig(state_dir=tmp_path, moto_url="http://127.0.0.1:1", registry="127.0.0.1:1")
    runner.store = store
    runner.specs = {"ml.m5.large": (2, 8.0)}
    runner.closing = threading.Event()
    runner._docker = NoDocker()
    return runner


def _request() -> dict[str, Any]:
    return {
        "TrainingJobName": "stopped-while-starting",
        "AlgorithmSpecification": {"TrainingImage": "127.0.0.1:1/x@sha256:" + "a" * 64},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/train"}}}
        ],
        "HyperParameters": {"num_leaves": "7"},
    }


def test_a_stop_that_lands_while_starting_ends_the_job_stopped(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.insert(TrainingJob.create(_request(), "us-east-1", "123456789012"))
    runner = _runner(tmp_path, store)
    lay_out = runner._lay_out

    def stop_arrives_during_lay_out(job: TrainingJob, paths: Any) -> None:
        lay_out(job, paths)
        store.update(job.name, lambda j: j.request_stop("StopTrainingJob"))

    runner._lay_out = stop_arrives_during_lay_out  # type: ignore[method-assign]  # the race, made certain

    runner._run("stopped-while-starting", adopt=False)

    job = store.get("stopped-while-starting")
    assert (job.status, job.failure_reason) == ("Stopped", None)
    assert [t["Status"] for t in job.transitions] == ["Starting", "Stopping", "Stopped"]
    assert job.billable_seconds == 0, "a job stopped before Downloading used no instance time"
    assert not (tmp_path / "jobs" / "stopped-while-starting").exists(), "its /opt/ml tree is cleaned up"
