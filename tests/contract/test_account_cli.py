"""The account commands against moto through the real CLI: `infra up|status|down`, `config init
--discover`, `jobs status`, `jobs logs --follow` and `clean` (which removes only what it created).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.data import storage
from services.jobs import store as jobs
from services.settings import Settings
from services.training import estimator as training
from services.training import logs

REGION = "sa-east-1"  # no other contract test uses it: the stack creates the log group here


def _plain(service: str, moto_url: str, region: str = REGION) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "TITANIC_SM_REGION": REGION,
        "TITANIC_SM_BUCKET": settings.bucket,
        "TITANIC_SM_STATE_DIR": str(settings.state_dir),
        "TITANIC_SM_RUNS_DIR": str(settings.runs_dir),
        **extra,
    }


def test_infra_up_status_down_on_the_local_target(settings: Settings, moto_url: str, tmp_path: Path) -> None:
    stack = f"titanic-{uuid.uuid4().hex[:6]}"
    env = _env(settings, TITANIC_SM_REPOSITORY=f"repo-{uuid.uuid4().hex[:6]}")
    config = tmp_path / "titanic-sm.toml"
    up = CliRunner().invoke(
        app, ["infra", "up", "--stack-name", stack, "--write-config", str(config)], env=env
    )
    assert up.exit_code == 0, up.output
    assert f"creating stack {stack} in {REGION}" in up.output
    # Progress is the stack's own events (moto records the stack's; AWS also each resource's).
    assert f"{stack:<22} CREATE_COMPLETE" in up.output
    assert f"ExecutionRoleArn: arn:aws:iam::123456789012:role/{stack}-ExecutionRole-" in up.output
    role_name = up.output.split(f"role/{stack}-ExecutionRole-", 1)[1].split()[0]
    assert len(f"{stack}-ExecutionRole-{role_name}") <= 64

    written = Settings.from_env({}, config)
    assert (written.target, written.region, written.bucket) == ("aws", REGION, settings.bucket)
    assert written.role_arn.startswith(f"arn:aws:iam::123456789012:role/{stack}-ExecutionRole-")

    status = CliRunner().invoke(app, ["infra", "status", "--stack-name", stack, "--json"], env=env)
    assert status.exit_code == 0, status.output
    state = json.loads(status.output)
    assert state["status"] == "CREATE_COMPLETE"
    assert {
        "TrainingBucket",
        "TrainingRepository",
        "ExecutionRole",
        "OperatorPolicy",
        "TrainingLogGroup",
    } <= {r[0] for r in state["resources"]}

    again = CliRunner().invoke(app, ["infra", "up", "--stack-name", stack], env=env)
    assert again.exit_code == 0, again.output  # an update; the log group now exists, so it is left alone

    down = CliRunner().invoke(app, ["infra", "down", "--stack-name", stack, "--yes"], env=env)
    assert down.exit_code == 0, down.output
    gone = CliRunner().invoke(app, ["infra", "status", "--stack-name", stack], env=env)
    assert gone.exit_code == 1
    assert gone.output.strip() == f"{stack}: NOT_DEPLOYED"
    # The shared training log group outlives the stack.
    groups = _plain("logs", moto_url).describe_log_groups(logGroupNamePrefix=logs.LOG_GROUP)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [logs.LOG_GROUP]


def test_infra_up_refuses_a_long_stack_name_in_one_line(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["infra", "up", "--stack-name", "s" * 40], env=_env(settings))
    assert result.exit_code == 1
    assert result.output.startswith("error: stack name must be 1-32 letters, digits and hyphens")


def test_config_init_discovers_the_account_and_the_buckets_region(
    settings: Settings, moto_url: str, tmp_path: Path
) -> None:
    bucket = f"course-{uuid.uuid4().hex[:8]}"
    _plain("s3", moto_url, "eu-north-1").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"}
    )
    out = tmp_path / "titanic-sm.toml"
    result = CliRunner().invoke(
        app, ["config", "init", "--discover", "--bucket", bucket, "--out", str(out)], env=_env(settings)
    )
    assert result.exit_code == 0, result.output
    assert "discovered: account 123456789012" in result.output
    assert f"discovered: bucket {bucket} is in eu-north-1" in result.output
    written = Settings.from_env({}, out)
    assert (written.bucket, written.region) == (bucket, "eu-north-1")


def _a_finished_job(settings: Settings, moto_url: str, tmp_path: Path) -> tuple[str, str]:
    """A job as `run` leaves it: channels, output and checkpoint in S3, a record, a runs/ folder."""
    s3 = _plain("s3", moto_url, settings.region)
    s3.create_bucket(
        Bucket=settings.bucket, CreateBucketConfiguration={"LocationConstraint": settings.region}
    )
    job = training.job_name_for(settings.prefix)
    version = uuid.uuid4().hex[:16]
    ours = [
        f"{settings.prefix}/{storage.DATASETS}/{version}/train/train.csv",
        f"{settings.prefix}/{storage.DATASETS}/{version}/manifest.json",
        f"{settings.prefix}/jobs/{job}/output/model.tar.gz",
        f"{settings.prefix}/checkpoints/{job}/model.txt",
    ]
    for key in ours:
        s3.put_object(Bucket=settings.bucket, Key=key, Body=b"x")
    store = jobs.JobStore(settings.job_store_path)
    record, _ = store.create(target="local", job_name=job, dataset_version=version)
    store.set_status(record.id, "InProgress")
    (settings.runs_dir / job).mkdir(parents=True)
    return record.id, job


def test_clean_lists_first_and_removes_only_what_the_project_created(
    settings: Settings, moto_url: str, tmp_path: Path
) -> None:
    settings = settings.with_overrides(region=REGION)
    _, job = _a_finished_job(settings, moto_url, tmp_path)
    s3 = _plain("s3", moto_url)
    theirs = [
        f"{settings.prefix}/jobs/someone-elses-job/output/model.tar.gz",
        f"{settings.prefix}/datasets/notours/train.csv",
        "other-project/data.csv",
    ]
    for key in theirs:
        s3.put_object(Bucket=settings.bucket, Key=key, Body=b"theirs")
    env = _env(settings)

    refused = CliRunner().invoke(app, ["clean"], env=env, input="n\n")
    assert refused.exit_code == 1
    assert f"s3     s3://{settings.bucket}/{settings.prefix}/jobs/{job}/output/model.tar.gz" in refused.output
    assert f"local  {settings.runs_dir / job}" in refused.output
    assert refused.output.strip().endswith("error: not confirmed; nothing removed")
    assert len(s3.list_objects_v2(Bucket=settings.bucket)["Contents"]) == 4 + len(theirs)

    done = CliRunner().invoke(app, ["clean", "--yes"], env=env)
    assert done.exit_code == 0, done.output
    assert f"removed 4 objects from s3://{settings.bucket}/{settings.prefix}/" in done.output
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket)["Contents"])
    assert left == sorted(theirs)
    assert not (settings.runs_dir / job).exists()
    assert not settings.state_dir.exists()
    again = CliRunner().invoke(app, ["clean", "--yes"], env=env)
    assert again.output.strip() == "nothing to clean"


def test_clean_keeps_a_repository_that_holds_images_it_did_not_push(
    settings: Settings, moto_url: str
) -> None:
    from services.jobs import clean

    settings = settings.with_overrides(region=REGION, repository=f"shared-{uuid.uuid4().hex[:6]}")
    ecr = _plain("ecr", moto_url)
    ecr.create_repository(repositoryName=settings.repository)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    theirs = ecr.put_image(
        repositoryName=settings.repository, imageManifest=json.dumps(manifest), imageTag="theirs"
    )
    store = jobs.JobStore(settings.job_store_path)
    uri = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{settings.repository}@sha256:{'c' * 64}"
    store.create(target="local", job_name=training.job_name_for("titanic"), image_uri=uri)
    plan = clean.plan(settings, repository=True, local_state=False)
    assert plan.image_digests == []  # the job's digest is not in the repository; theirs is not ours
    said: list[str] = []
    clean.execute(settings, plan, echo=said.append)
    assert said == [f"kept repository {settings.repository}: it holds images this project did not push"]
    images = ecr.list_images(repositoryName=settings.repository)["imageIds"]
    assert [i["imageDigest"] for i in images] == [theirs["image"]["imageId"]["imageDigest"]]


def test_jobs_status_and_logs_follow_until_the_job_ends(
    settings: Settings, moto_url: str, tmp_path: Path
) -> None:
    settings = settings.with_overrides(region=REGION)
    job_id, job = _a_finished_job(settings, moto_url, tmp_path)
    client = _plain("logs", moto_url)
    stream = logs.stream_name(job, int(time.time()))
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_log_group(logGroupName=logs.LOG_GROUP)
    client.create_log_stream(logGroupName=logs.LOG_GROUP, logStreamName=stream)

    def put(message: str) -> None:
        client.put_log_events(
            logGroupName=logs.LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
        )

    put("line 1")

    def later() -> None:  # the job writes more, then ends, while `--follow` reads
        time.sleep(1.5)
        put("line 2")
        time.sleep(1.0)
        jobs.JobStore(settings.job_store_path).set_status(job_id, "Completed", secondary_status="Completed")

    writer = threading.Thread(target=later)
    writer.start()
    result = CliRunner().invoke(
        app, ["jobs", "logs", job, "--follow", "--interval", "0.5"], env=_env(settings)
    )
    writer.join()
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["line 1", "line 2", f"{job}: Completed"]

    status = CliRunner().invoke(app, ["jobs", "status", job_id, "--json"], env=_env(settings))
    assert status.exit_code == 0, status.output
    shown = json.loads(status.output)
    assert (shown["name"], shown["store_status"], shown["secondary_status"]) == (
        job,
        "Completed",
        "Completed",
    )


@pytest.mark.parametrize("args", [["jobs", "status", "nope"], ["jobs", "logs", "nope", "--follow"]])
def test_an_unknown_job_is_one_line(settings: Settings, args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env=_env(settings))
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
