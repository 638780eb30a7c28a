"""The detached worker against moto (aws code path): lifecycle, idempotent launch, crash
detection, restart and stop. Each test starts real `python -m services worker` processes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from botocore.stub import Stubber

from container.hyperparameters import parse
from services import aws
from services.data import storage
from services.instance import cost
from services.jobs import store as jobs
from services.jobs.store import Job, JobStore
from services.settings import Settings
from services.training import estimator as training
from services.training import launch, stop, worker
from services.training.errors import MaxRuntimeExceededError, StageError

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/titanic-training@sha256:" + "cd" * 32


@pytest.fixture
def aws_settings(settings: Settings) -> Settings:
    # The worker inherits AWS_ENDPOINT_URL (set by the settings fixture), so on the aws target
    # its clients talk to this session's moto server.
    aws_target = replace(settings, target="aws", role_arn="arn:aws:iam::123456789012:role/titanic-sm-exec")
    # The execution role exists in the account, as the launch's pre-flight checks (iam:GetRole).
    iam = aws.client(aws_target, "iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName="titanic-sm-exec", AssumeRolePolicyDocument=json.dumps(_SAGEMAKER_TRUST))
    return aws_target


_SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _request(settings: Settings, **changes: object) -> launch.LaunchRequest:
    base = launch.LaunchRequest(
        channels={"train": settings.s3_uri("datasets", "v1", "train") + "/"},
        dataset_version="v1",
        instance_type="ml.m5.large",
        hyperparameters={"num_leaves": "7"},
        max_run_seconds=600,
    )
    return replace(base, **changes)  # type: ignore[arg-type]  # the changes are Settings fields with values of their types


def _model_tar(sent: dict[str, str]) -> bytes:
    metrics = {
        "schema_version": 1,
        "hyperparameters": parse(sent),
        "validation": {"accuracy": 0.81, "roc_auc": 0.86},
        "cv": {"folds": 5, "accuracy": {"mean": 0.8}, "roc_auc": {"mean": 0.85}},
        "training_seconds": 0.2,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("model.joblib", b"model"), ("metrics.json", json.dumps(metrics).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _wait_for(store: JobStore, job_id: str, done: Callable[[Job], bool], timeout: float = 240) -> Job:
    """The worker is a separate process (it imports the SDK): minutes on a loaded 2-core machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs.refresh(store)  # as a page poll does: a dead worker's job becomes Failed
        job = store.get(job_id)
        if done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {store.get(job_id)}")


def _worker_log(settings: Settings, job_id: str) -> str:
    return launch.worker_log_path(settings, job_id).read_text()


def test_launch_returns_at_once_and_the_worker_completes_the_job(aws_settings: Settings) -> None:
    name = training.job_name_for("titanic-worker")
    sent = {"num_leaves": "7"}
    storage.ensure_bucket(aws_settings)
    # moto completes a job at once and writes no model: put the one the container would have written.
    aws.client(aws_settings, "s3").put_object(
        Bucket=aws_settings.bucket, Key=f"titanic/jobs/{name}/output/model.tar.gz", Body=_model_tar(sent)
    )
    job_id = launch.launch(
        aws_settings, _request(aws_settings, job_name=name, image_uri=IMAGE, request_key="k-ok")
    )
    store = JobStore(aws_settings.job_store_path)
    # launch does not wait for the job: it returns while its worker, another process, has it.
    # (How fast it returns is a speed goal: make bench-ui.)
    launched = store.get(job_id)
    assert launched.is_active and launched.worker_pid not in (None, os.getpid()), launched
    job = _wait_for(store, job_id, lambda j: not j.is_active)
    assert job.status == "Completed", _worker_log(aws_settings, job_id)
    # moto's jobs complete at once with no secondary transitions of their own (the control plane's
    # are proven in the e2e and peer tiers): the worker's start, then the outcome.
    assert [(t.status, t.secondary_status) for t in job.transitions] == [
        ("Pending", None),
        ("InProgress", "Starting"),
        ("Completed", "Completed"),
    ]
    assert job.training_job["TrainingJobStatus"] == "Completed"
    assert job.artifact_uri == f"s3://{aws_settings.bucket}/titanic/jobs/{name}/output/model.tar.gz"
    # Verified from the job's own output path: its model's hash is recorded, predict's trust.
    assert job.model_sha256 == hashlib.sha256(b"model").hexdigest()
    assert (job.validation_accuracy, job.validation_auc, job.cv_accuracy, job.cv_auc) == (
        0.81,
        0.86,
        0.8,
        0.85,
    )
    assert job.hyperparameters == sent
    assert job.local_path and (aws_settings.runs_dir / name / "run.json").is_file()
    assert job.worker_pid is not None and job.heartbeat_at is not None


def test_the_same_request_key_launches_once(aws_settings: Settings) -> None:
    request = _request(aws_settings, image_uri=IMAGE, request_key="tab-1-click-1")
    first = launch.launch(aws_settings, request)
    second = launch.launch(aws_settings, request)
    assert first == second
    store = JobStore(aws_settings.job_store_path)
    assert [j.id for j in store.list()] == [first]
    assert sorted(p.name for p in (aws_settings.state_dir / "workers").iterdir()) == [f"{first}.log"]
    _wait_for(store, first, lambda j: not j.is_active)


def test_a_killed_worker_leaves_the_job_failed_with_the_reason_and_restart_runs_it_again(
    aws_settings: Settings,
) -> None:
    store = JobStore(aws_settings.job_store_path)
    job_id = launch.launch(aws_settings, _request(aws_settings, image_uri=IMAGE))
    # The worker beats before its heavy imports: once it has, it is running; kill it hard.
    running = _wait_for(store, job_id, lambda j: j.heartbeat_at is not None)
    assert running.worker_pid is not None
    os.killpg(running.worker_pid, signal.SIGKILL)
    crashed = _wait_for(store, job_id, lambda j: not j.is_active, timeout=10)
    assert crashed.status == "Failed"
    assert crashed.failure_reason == f"worker pid {running.worker_pid} exited without finishing"

    again_id = launch.restart(aws_settings, job_id)
    assert again_id != job_id
    again = _wait_for(store, again_id, lambda j: not j.is_active)
    assert again.job_name != crashed.job_name and again.channels == crashed.channels
    assert again.hyperparameters == crashed.hyperparameters
    # The replayed job really ran its stages: moto completed it, and the artifact was looked for.
    assert again.status == "Failed"
    assert again.failure_reason == (
        f"verify: artifact missing: s3://{aws_settings.bucket}/titanic/jobs/{again.job_name}/output/model.tar.gz"
    )
    with pytest.raises(StageError, match="still"):
        running_job, _ = store.create(target="aws", job_name="titanic-active")
        launch.restart(aws_settings, running_job.id)


def test_invalid_requests_are_refused_before_anything_is_recorded(aws_settings: Settings) -> None:
    with pytest.raises(training.TrainingError, match="max_wait"):
        launch.launch(aws_settings, _request(aws_settings, use_spot=True, max_wait_seconds=60))
    with pytest.raises(training.TrainingError, match="unknown hyperparameter"):
        launch.launch(aws_settings, _request(aws_settings, hyperparameters={"leaves": "7"}))
    assert JobStore(aws_settings.job_store_path).list() == []


def test_stop_on_aws_calls_stop_training_job(aws_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    store = JobStore(aws_settings.job_store_path)
    job, _ = store.create(target="aws", job_name="titanic-to-stop")
    store.heartbeat(job.id, pid=os.getpid())
    store.set_status(job.id, "InProgress", secondary_status="Training")
    store.update(job.id, training_job={"TrainingJobStatus": "InProgress"})  # SageMaker has the job
    # moto has no StopTrainingJob: check the exact call with botocore's Stubber.
    client = aws.client(aws_settings, "sagemaker")
    stubber = Stubber(client)
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": "titanic-to-stop"})
    real_client = aws.client
    monkeypatch.setattr(
        aws, "client", lambda s, name, **kw: client if name == "sagemaker" else real_client(s, name, **kw)
    )
    with stubber:
        stopped = stop.stop(aws_settings, job.id)
    stubber.assert_no_pending_responses()
    assert stopped.status == "Stopping"
    assert stop.stop(aws_settings, "titanic-to-stop").status == "Stopping"  # by name too, idempotent


@pytest.mark.parametrize(("api_status", "stopped_there"), [("InProgress", True), ("Completed", False)])
def test_stop_of_an_ended_record_stops_a_job_the_api_still_runs(
    aws_settings: Settings, monkeypatch: pytest.MonkeyPatch, api_status: str, stopped_there: bool
) -> None:
    """The store says Failed (its worker died just after CreateTrainingJob) but SageMaker still
    runs the job: `jobs stop` stops it there too, and the record stays what it was."""
    store = JobStore(aws_settings.job_store_path)
    job, _ = store.create(target="aws", job_name="titanic-orphan")
    store.set_status(job.id, "Failed", failure_reason="worker pid 4242 exited without finishing")
    client = aws.client(aws_settings, "sagemaker")
    stubber = Stubber(client)
    described = {
        "TrainingJobName": "titanic-orphan",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/titanic-orphan",
        "ModelArtifacts": {"S3ModelArtifacts": ""},
        "TrainingJobStatus": api_status,
        "SecondaryStatus": "Training" if api_status == "InProgress" else "Completed",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "CreationTime": 1_796_000_000.0,
    }
    stubber.add_response("describe_training_job", described, {"TrainingJobName": "titanic-orphan"})
    if stopped_there:
        stubber.add_response("stop_training_job", {}, {"TrainingJobName": "titanic-orphan"})
    real_client = aws.client
    monkeypatch.setattr(
        aws, "client", lambda s, name, **kw: client if name == "sagemaker" else real_client(s, name, **kw)
    )
    with stubber:
        after = stop.stop(aws_settings, job.id)
    stubber.assert_no_pending_responses()  # StopTrainingJob sent exactly when the API still runs it
    assert after.status == "Failed"


def test_run_job_in_process_beats_with_its_own_pid(aws_settings: Settings) -> None:
    """`titanic-sm run` runs the stages in-process: its job must look alive to other readers."""
    name = training.job_name_for("titanic-inproc")
    sent = {"num_leaves": "9"}
    storage.ensure_bucket(aws_settings)
    aws.client(aws_settings, "s3").put_object(
        Bucket=aws_settings.bucket, Key=f"titanic/jobs/{name}/output/model.tar.gz", Body=_model_tar(sent)
    )
    job, created = launch.record_job(
        aws_settings, _request(aws_settings, job_name=name, image_uri=IMAGE, hyperparameters=sent)
    )
    assert created and job.worker_pid is None
    stages: list[str] = []
    outcome = worker.run_job(aws_settings, job.id, progress=lambda stage, message: stages.append(stage))
    assert outcome.job.status == "Completed" and outcome.job.worker_pid == os.getpid()
    assert outcome.metrics["hyperparameters"]["num_leaves"] == 9
    assert [s for i, s in enumerate(stages) if s not in stages[:i]] == ["fit", "verify", "download"]
    run = json.loads((aws_settings.runs_dir / name / "run.json").read_text())
    assert run["cost"]["actual_usd"] == outcome.job.actual_cost
    assert run["status"] == "Completed" and run["image"] == IMAGE


def _sagemaker_answers(monkeypatch: pytest.MonkeyPatch, **described: object) -> None:
    """DescribeTrainingJob answers with moto's description updated by ``described`` (what moto
    cannot produce: a job stopped at its limit, billable seconds)."""
    real_client = aws.client

    class Answering:
        def __init__(self, client: object) -> None:
            self._client = client

        def describe_training_job(self, **kwargs: object) -> dict[str, object]:
            return {**self._client.describe_training_job(**kwargs), **described}  # type: ignore[attr-defined]  # boto3 makes a client's methods at run time

        def __getattr__(self, name: str) -> object:  # every other call is moto's own
            return getattr(self._client, name)

    monkeypatch.setattr(
        aws,
        "client",
        lambda s, name, **kw: (
            Answering(real_client(s, name, **kw)) if name == "sagemaker" else real_client(s, name, **kw)
        ),
    )


@pytest.mark.parametrize(
    ("secondary", "limit"), [("MaxRuntimeExceeded", "max_run"), ("MaxWaitTimeExceeded", "max_wait")]
)
def test_a_job_sagemaker_stopped_at_its_limit_is_recorded_as_that_not_as_a_user_stop(
    aws_settings: Settings, monkeypatch: pytest.MonkeyPatch, secondary: str, limit: str
) -> None:
    """SageMaker ends a job past MaxRuntimeInSeconds (or a spot job past MaxWaitTimeInSeconds) as
    Stopped with that secondary status; moto completes every job at once, so its answer is set."""
    _sagemaker_answers(monkeypatch, TrainingJobStatus="Stopped", SecondaryStatus=secondary)
    storage.ensure_bucket(aws_settings)
    job, _ = launch.record_job(aws_settings, _request(aws_settings, image_uri=IMAGE))
    with pytest.raises(MaxRuntimeExceededError, match=limit):
        worker.run_job(aws_settings, job.id)
    stored = JobStore(aws_settings.job_store_path).get(job.id)
    assert (stored.status, stored.secondary_status) == ("Stopped", secondary)
    assert stored.failure_reason is not None and limit in stored.failure_reason
    assert "by the user" not in " ".join(t.message or "" for t in stored.transitions)


def test_an_aws_job_is_costed_on_its_billable_seconds_and_says_so(
    aws_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run.json and the `titanic-sm run` summary name the basis: billable seconds on aws."""
    from services import pipeline
    from services.instance import instances

    _sagemaker_answers(monkeypatch, TrainingTimeInSeconds=600, BillableTimeInSeconds=240)
    name = training.job_name_for("titanic-billed")
    sent = {"num_leaves": "7"}
    storage.ensure_bucket(aws_settings)
    aws.client(aws_settings, "s3").put_object(
        Bucket=aws_settings.bucket, Key=f"titanic/jobs/{name}/output/model.tar.gz", Body=_model_tar(sent)
    )
    job, _ = launch.record_job(
        aws_settings, _request(aws_settings, job_name=name, image_uri=IMAGE, hyperparameters=sent)
    )
    outcome = worker.run_job(aws_settings, job.id)
    billed = outcome.job
    quote = instances.price_quote(aws_settings, "ml.m5.large", False)
    assert quote is not None and billed.billable_seconds == 240
    assert billed.actual_cost == pytest.approx(240 / 3600 * quote.usd_per_hour, abs=1e-6)
    run = json.loads((aws_settings.runs_dir / name / "run.json").read_text())
    assert run["cost"]["basis"] == cost.cost_basis(billed) == "billable seconds"
    summary = {
        "region": "r",
        "bucket": "b",
        "repository": "p",
        "image": IMAGE,
        "job_name": name,
        "channels": {},
        "artifact": billed.artifact_uri,
        "metrics": dict.fromkeys(("validation_accuracy", "validation_auc", "cv_accuracy", "cv_auc")),
        "cost": billed.actual_cost,
        "cost_basis": cost.cost_basis(billed),
        "local_path": None,
    }
    lines = pipeline.summary_lines(pipeline.PipelineResult(billed.id, name, billed.status, summary))
    assert any(line.startswith("cost:") and line.endswith("(billable seconds)") for line in lines), lines


@pytest.mark.parametrize("planted", ["init", "this process"])
def test_stop_never_signals_init_or_its_caller(aws_settings: Settings, planted: str) -> None:
    """A recorded pid that is init or the caller (a planted or recycled pid) is recorded Stopped
    without a signal: a process-group kill there would take the caller, or a whole CI run, down."""
    store = JobStore(aws_settings.job_store_path)
    job, _ = store.create(target="aws", job_name=f"titanic-planted-{planted.replace(' ', '-')}")
    store.heartbeat(job.id, pid=1 if planted == "init" else os.getpid())
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    stopped = stop.stop(aws_settings, job.id)  # this test process survives it
    assert (stopped.status, stopped.secondary_status) == ("Stopped", "Stopped")


def test_stop_signals_a_foreground_run_alone_not_its_group(aws_settings: Settings) -> None:
    """A foreground `titanic-sm run` shares its terminal's process group: only it is signalled."""
    foreground = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # our group
    try:
        store = JobStore(aws_settings.job_store_path)
        job, _ = store.create(target="aws", job_name="titanic-foreground")
        store.heartbeat(job.id, pid=foreground.pid)
        store.set_status(job.id, "InProgress", secondary_status="Starting")
        assert os.getpgid(foreground.pid) == os.getpgrp()
        stop.stop(aws_settings, job.id)
        assert foreground.wait(timeout=30) == -signal.SIGTERM  # and this process is still here
    finally:
        if foreground.poll() is None:
            foreground.kill()
