"""Every boto3 and SDK call the aws code path makes, recorded while it runs against moto, checked
against `titanic-sm iam render`'s operator policy in both directions: each call is allowed, and
each action and statement of the policy is needed by some call. Then the S3 stages run as a user
holding only the policy's S3 statements, under moto's IAM enforcement.

The few calls that cannot be recorded here are listed with the reason (NOT_RECORDED): docker's
push goes through the registry protocol, not boto3, and moto has no StopTrainingJob.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import iam_eval
import pytest
from botocore.exceptions import ClientError
from moto.core.authorization import enable_iam_authentication

from services import aws
from services.account import iam, preflight
from services.data import storage
from services.image import images
from services.instance import instances
from services.jobs import clean
from services.jobs import store as jobs
from services.jobs import sync as job_sync
from services.settings import Settings
from services.training import estimator as training
from services.training import logs

REGION = "eu-west-2"  # no other contract test uses it: moto's state is per process
ACCOUNT = "123456789012"  # moto's
ROLE = "AmazonSageMaker-ExecutionRole-20260123T111313"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _plain(service: str, moto_url: str, **credentials: str) -> Any:
    keys = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, region_name=REGION, endpoint_url=moto_url, **keys)


@pytest.fixture
def account(settings: Settings, moto_url: str, tmp_path: Path) -> Settings:
    """aws-target settings for an account with a console-made execution role (as docs/aws.md's
    existing-resources case); every client reaches moto through AWS_ENDPOINT_URL."""
    suffix = uuid.uuid4().hex[:8]
    role_path = "/service-role/"
    iam_client = _plain("iam", moto_url)
    try:
        iam_client.create_role(RoleName=ROLE, Path=role_path, AssumeRolePolicyDocument=json.dumps(TRUST))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    return Settings(
        target="aws",
        region=REGION,
        bucket=f"titanic-sm-calls-{suffix}",
        repository=f"titanic-training-{suffix}",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/service-role/{ROLE}",
        state_dir=tmp_path / "state",
        runs_dir=tmp_path / "runs",
        data_dir=tmp_path / "data",
    )


def _policy(settings: Settings) -> dict[str, Any]:
    return iam.render(iam.PolicyInputs.from_settings(settings, ACCOUNT))["operator-policy.json"]


def _channel_files(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "channels"
    folder.mkdir()
    (folder / "train.csv").write_text("PassengerId,Survived,Sex\n1,0,male\n2,1,female\n")
    (folder / "validation.csv").write_text("PassengerId,Survived,Sex\n3,1,female\n")
    return folder / "train.csv", folder / "validation.csv"


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    real_session = aws.boto_session

    def recording_session(settings: Settings) -> Any:
        session = real_session(settings)

        def record(model: Any, params: Mapping[str, Any], **_: Any) -> None:
            calls.append((model.service_model.signing_name, model.name, dict(params)))

        session.events.register("provide-client-params", record)
        return session

    monkeypatch.setattr(aws, "boto_session", recording_session)
    return calls


def _not_recorded(settings: Settings, job: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Calls the aws path makes that this test cannot record, each with why."""
    repository = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{settings.repository}"
    # `docker push` to ECR (the registry protocol, authorised as these ECR actions).
    push = [
        (f"ecr:{a}", repository, {})
        for a in (
            "BatchCheckLayerAvailability",
            "InitiateLayerUpload",
            "UploadLayerPart",
            "CompleteLayerUpload",
            "PutImage",
            "BatchGetImage",
        )
    ]
    # stop.stop on aws: moto answers StopTrainingJob with HTTP 500 (tests/contract/test_worker.py
    # checks the call with a Stubber).
    stop = [("sagemaker:StopTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{job}", {})]
    return push + stop


def _stub_service_quotas(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto has no SageMaker quotas: answer the two list calls the Instance evidence makes (on a
    client from the recording session, so they are recorded like the rest)."""
    from botocore.stub import Stubber

    real_client = aws.client

    def client(settings: Settings, service: str, **kwargs: Any) -> Any:
        made = real_client(settings, service, **kwargs)
        if service != "service-quotas":
            return made
        stubber = Stubber(made)
        for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
            stubber.add_response(operation, {"Quotas": []}, {"ServiceCode": "sagemaker", "MaxResults": 100})
        stubber.activate()
        return made

    monkeypatch.setattr(aws, "client", client)


def _pushed_digest(settings: Settings, moto_url: str) -> str:
    """An image in the repository, as `docker push` leaves one (moto's ECR API takes the manifest)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "1" * 64,
        },
        "layers": [],
    }
    image = _plain("ecr", moto_url).put_image(
        repositoryName=settings.repository, imageManifest=json.dumps(manifest), imageTag="content-tag"
    )["image"]
    return str(image["imageId"]["imageDigest"])


def _run_the_aws_path(settings: Settings, moto_url: str, tmp_path: Path) -> str:
    """Every stage of `titanic-sm run`, `train`, `config check`, `jobs` and `clean` that needs no Docker."""
    storage.ensure_bucket(settings)  # create-if-missing: CreateBucket, encryption, public access block
    repository_uri = images.ensure_repository(settings)  # create-if-missing, with its lifecycle rule
    digest = _pushed_digest(settings, moto_url)
    ecr = aws.client(settings, "ecr")
    images._authorization(settings, ecr)  # the ECR token `docker login` uses
    assert images._remote_digest(ecr, settings.repository, "no-such-tag") is None  # the digest lookup
    # The Instance page's (and `run`'s) evidence: live prices (pricing:GetProducts) and quotas. The
    # pre-flight reads the quotas only (its price is the snapshot's).
    instances.gather(settings)
    report = preflight.run_checks(settings)
    assert report.ok, report.lines()
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {
        "credentials": "ok",
        "role": "ok",
        "bucket": "ok",
        "prefix": "ok",
        "repository": "ok",
        "instance": "warn",  # moto has no SageMaker quotas: "quota unknown", with what to grant
        "job name": "ok",
        "spot": "ok",
    }, report.lines()
    train, validation = _channel_files(tmp_path)
    channels = storage.upload_channels(settings, train, validation)
    storage.list_dataset_versions(settings)
    job = training.job_name_for(settings.job_name_base)
    request = training.FitRequest(
        job_name=job,
        image_uri=f"{repository_uri}@{digest}",
        channels=channels.channels(),
        hyperparameters={"num_leaves": 7},
        use_spot=True,
        max_run_seconds=900,
        max_wait_seconds=1800,
        tags={"project": "titanic-sm"},
    )
    training.start_fit(settings, request, wait=False)
    # What SageMaker writes for a job: a log stream, and the artifact.
    stream = logs.stream_name(job, int(time.time()))
    logs_client = _plain("logs", moto_url)
    with contextlib.suppress(logs_client.exceptions.ResourceAlreadyExistsException):  # another test's
        logs_client.create_log_group(logGroupName=logs.LOG_GROUP)
    logs_client.create_log_stream(logGroupName=logs.LOG_GROUP, logStreamName=stream)
    logs_client.put_log_events(
        logGroupName=logs.LOG_GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "training"}],
    )
    artifact = f"{training.output_path(settings)}/{job}/output/model.tar.gz"
    _plain("s3", moto_url).put_object(
        Bucket=settings.bucket, Key=storage.parse_s3_uri(artifact)[1], Body=b"tar"
    )
    assert [e.message for e in logs.read_events(settings, job).events] == ["training"]
    store = jobs.JobStore(settings.job_store_path)
    store.create(
        target="aws",
        job_name=job,
        image_uri=request.image_uri,
        dataset_version=channels.version,
        channels=channels.channels(),
    )
    job_sync.sync(settings, store)
    aws.client(settings, "sagemaker").describe_training_job(TrainingJobName=job)
    assert storage.object_exists(settings, artifact)
    storage.download_file(settings, artifact, tmp_path / "model.tar.gz")
    plan = clean.plan(settings, repository=True, local_state=False)
    assert plan.s3_keys
    assert plan.image_digests == [digest]
    clean.execute(settings, plan)
    return job


def test_every_call_is_allowed_and_every_grant_is_needed(
    account: Settings, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _record(monkeypatch)
    _stub_service_quotas(monkeypatch)
    job = _run_the_aws_path(account, moto_url, tmp_path)
    requests = [
        request
        for service, operation, params in calls
        for request in iam_eval.requests_of(
            service, operation, params, region=REGION, account=ACCOUNT, role_paths={ROLE: "/service-role/"}
        )
        if request[0] not in iam_eval.UNAUTHORISED_CALLS
    ]
    services = {service for service, _, _ in calls}
    assert {"s3", "ecr", "sagemaker", "logs", "iam", "sts", "servicequotas", "pricing"} <= services, services
    policy = _policy(account)

    denied = [(a, r, c) for a, r, c in requests if not iam_eval.allowed(policy, a, r, c)]
    assert denied == []

    everything = requests + _not_recorded(account, job)
    needed = {action.lower() for action, _, _ in everything}
    granted = {
        str(action).lower()
        for statement in iam_eval.statements(policy)
        for action in iam_eval.as_list(statement["Action"])
    }
    assert granted - needed == set(), "granted, but no call of the aws path needs it"
    used = {sid for a, r, c in everything for sid in iam_eval.matching(policy, a, r, c)}
    assert {s["Sid"] for s in iam_eval.statements(policy)} - used == set()


def test_the_create_job_request_is_within_the_policys_sagemaker_conditions(
    account: Settings, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _record(monkeypatch)
    _run_the_aws_path(account, moto_url, tmp_path)
    (create,) = [params for _, operation, params in calls if operation == "CreateTrainingJob"]
    assert create["EnableNetworkIsolation"] is True
    assert create["ResourceConfig"]["VolumeSizeInGB"] == account.volume_size_gb
    assert create["ResourceConfig"]["InstanceType"] == account.instance_type
    # Outside the limits, the same request is refused: another type, no isolation, longer runtime.
    policy = _policy(account)
    for change in (
        {"ResourceConfig": {**create["ResourceConfig"], "InstanceType": "ml.p4d.24xlarge"}},
        {"EnableNetworkIsolation": False},
        {"StoppingCondition": {**create["StoppingCondition"], "MaxRuntimeInSeconds": 7200}},
    ):
        (action, resource, context), *_ = iam_eval.requests_of(
            "sagemaker", "CreateTrainingJob", {**create, **change}, region=REGION, account=ACCOUNT
        )
        assert not iam_eval.allowed(policy, action, resource, context), change


# --- S3 under moto's IAM enforcement, as a user with only the operator policy's S3 statements ------


def _s3_only_user(settings: Settings, moto_url: str) -> dict[str, str]:
    policy = _policy(settings)
    s3_statements = [
        s
        for s in iam_eval.statements(policy)
        if all(str(a).startswith("s3:") for a in iam_eval.as_list(s["Action"]))
    ]
    assert {s["Sid"] for s in s3_statements} == {"TrainingBucket", "ProjectObjects"}
    # moto authorises HeadBucket as "s3:HeadBucket"; AWS as s3:ListBucket, which TrainingBucket grants.
    shim = {
        "Sid": "MotoHeadBucket",
        "Effect": "Allow",
        "Action": "s3:HeadBucket",
        "Resource": f"arn:aws:s3:::{settings.bucket}",
    }
    iam_client = _plain("iam", moto_url)
    user = f"s3-operator-{uuid.uuid4().hex[:8]}"
    iam_client.create_user(UserName=user)
    iam_client.put_user_policy(
        UserName=user,
        PolicyName="operator-s3",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [*s3_statements, shim]}),
    )
    key = iam_client.create_access_key(UserName=user)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def _denied(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return False


def test_the_s3_stages_work_on_the_prefix_and_nothing_else(
    account: Settings, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = account
    _plain("s3", moto_url).create_bucket(
        Bucket=settings.bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    _plain("s3", moto_url).put_object(Bucket=settings.bucket, Key="someone-else/data.csv", Body=b"theirs")
    credentials = _s3_only_user(settings, moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["aws_secret_access_key"])
    train, validation = _channel_files(tmp_path)
    s3 = _plain("s3", moto_url, **credentials)

    with enable_iam_authentication():
        assert storage.ensure_bucket(settings) == settings.bucket
        channels = storage.upload_channels(settings, train, validation)
        assert [v.version for v in storage.list_dataset_versions(settings)] == [channels.version]
        assert storage.download_file(settings, channels.manifest_uri, tmp_path / "m.json").exists()
        bucket_check, prefix_check = preflight._bucket(settings, ACCOUNT)
        assert (bucket_check.status, prefix_check.status) == ("ok", "ok"), (bucket_check, prefix_check)
        # Outside the prefix: 403 for every read, write and delete.
        assert _denied(s3.get_object, Bucket=settings.bucket, Key="someone-else/data.csv")
        assert _denied(s3.put_object, Bucket=settings.bucket, Key="someone-else/x.csv", Body=b"1")
        assert _denied(s3.delete_object, Bucket=settings.bucket, Key="someone-else/data.csv")
        assert _denied(s3.put_object, Bucket=settings.bucket, Key="titanic-other/x.csv", Body=b"1")
        assert _denied(s3.delete_bucket, Bucket=settings.bucket)
        assert _denied(s3.put_bucket_policy, Bucket=settings.bucket, Policy=json.dumps(TRUST))
        # Inside it, the clean-up removes exactly what the project wrote.
        s3.delete_object(Bucket=settings.bucket, Key=storage.parse_s3_uri(channels.manifest_uri)[1])
    left = _plain("s3", moto_url).list_objects_v2(Bucket=settings.bucket)["Contents"]
    assert "someone-else/data.csv" in {o["Key"] for o in left}


@pytest.mark.parametrize(("applied", "status"), [(1.0, "ok"), (0.0, "fail"), (None, "warn")])
def test_the_instance_check_reads_the_instance_pages_evidence(
    account: Settings, applied: float | None, status: str
) -> None:
    from services.instance import quotas

    table = quotas.QuotaTable(account.region, "AWS Service Quotas (sagemaker)", "2026-12-01", known=True)
    if applied is not None:
        table.quotas[("ml.m5.large", False)] = quotas.Quota(
            "ml.m5.large", False, "L-611FA074", applied, 0.0, "AWS Service Quotas (sagemaker)", "2026-12-01"
        )
    evidence = instances.gather(account, offline=True, quota_table=table)
    check = preflight._instance(account, "ml.m5.large", False, evidence)
    assert check.status == status, check
    if applied == 0.0:
        assert check.line() == (
            f"fail  instance    ml.m5.large on-demand: quota 0 in {REGION} (AWS Service Quotas (sagemaker), "
            "2026-12-01) -> request an increase (docs/aws.md, step 3) or pick another type from "
            "`titanic-sm instances`"
        )
