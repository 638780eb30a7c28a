"""`titanic-sm config check` and the checks before every launch: one line per check with the fix,
against moto (and botocore's Stubber where moto cannot answer as AWS does: a denied call).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from services import aws
from services.account import preflight
from services.cli import app
from services.jobs import store as jobs
from services.settings import Settings

REGION = "ap-northeast-2"  # no other contract test uses it (moto's state is per process)
ACCOUNT = "123456789012"
ROLE = "AmazonSageMaker-ExecutionRole-20260123T111313"
SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _plain(service: str, moto_url: str, region: str = REGION) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _role(moto_url: str, name: str, trust: dict[str, Any], path: str = "/service-role/") -> str:
    iam = _plain("iam", moto_url)
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(
            iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                "Arn"
            ]
        )


@pytest.fixture
def existing(settings: Settings, moto_url: str, tmp_path: Path) -> Settings:
    """The existing-resources case: a bucket, a repository and a console-made role already there."""
    suffix = uuid.uuid4().hex[:8]
    bucket, repository = f"course-bucket-{suffix}", f"course-repo-{suffix}"
    _plain("s3", moto_url).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    _plain("ecr", moto_url).create_repository(repositoryName=repository)
    return Settings(
        target="aws",
        region=REGION,
        bucket=bucket,
        repository=repository,
        role_arn=_role(moto_url, ROLE, SAGEMAKER_TRUST),
        state_dir=tmp_path / "state",
        runs_dir=tmp_path / "runs",
        data_dir=tmp_path / "data",
    )


@pytest.fixture(autouse=True)
def _instance_evidence(monkeypatch: pytest.MonkeyPatch, real_aws_account: bool) -> None:
    """The Instance page's evidence with a known quota: moto has no Price List and no SageMaker
    quotas, and each refused call is retried (tests/contract/test_iam_calls.py records them).
    Against a real account, the real evidence."""
    from services.instance import instances

    if real_aws_account:
        return
    real_gather = instances.gather
    monkeypatch.setattr(instances, "gather", lambda settings, **_: _offline_evidence(settings, real_gather))


def _by_name(report: preflight.Report) -> dict[str, preflight.Check]:
    return {c.name: c for c in report.checks}


def _offline_evidence(settings: Settings, gather: Any = None) -> Any:
    from services.instance import instances, quotas

    gather = gather or instances.gather
    table = quotas.QuotaTable(settings.region, "test quotas", "2026-12-01", known=True)
    table.quotas[("ml.m5.large", False)] = quotas.Quota(
        "ml.m5.large", False, "L-611FA074", 2.0, 0.0, "test quotas", "2026-12-01"
    )
    return gather(settings, offline=True, quota_table=table)


def test_the_existing_resources_case_passes_every_check(existing: Settings) -> None:
    report = preflight.run_checks(existing, evidence=_offline_evidence(existing))
    checks = _by_name(report)
    assert report.ok, report.lines()
    assert [c.name for c in report.checks] == [
        "credentials",
        "role",
        "bucket",
        "prefix",
        "repository",
        "instance",
        "job name",
        "spot",
    ]
    assert all(c.status == "ok" for c in report.checks), report.lines()
    assert checks["credentials"].detail.startswith(f"account {ACCOUNT} as arn:aws:")
    assert checks["role"].detail == f"{ROLE} trusts sagemaker.amazonaws.com"
    assert checks["bucket"].detail == f"{existing.bucket} in {REGION}"
    assert checks["job name"].detail.startswith(f"{existing.job_name_base}-")
    # The write check leaves nothing behind: no object, no pending upload.
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.list_objects_v2(Bucket=existing.bucket).get("KeyCount", 0) == 0
    assert not s3.list_multipart_uploads(Bucket=existing.bucket).get("Uploads")


def _one_line(report: preflight.Report, name: str) -> preflight.Check:
    check = _by_name(report)[name]
    assert "\n" not in check.line()
    return check


def test_an_unknown_profile_is_one_line(existing: Settings) -> None:
    settings = existing.with_overrides(aws_profile="no-such-profile")
    report = preflight.run_checks(settings, evidence=_offline_evidence(settings))
    check = _one_line(report, "credentials")
    assert check.status == "fail"
    assert check.detail == "AWS profile 'no-such-profile' is not in ~/.aws/config or ~/.aws/credentials"
    assert "TITANIC_SM_AWS_PROFILE" in check.fix
    # What needs an account says so instead of failing with a traceback.
    assert {c.name: c.status for c in report.checks if c.status == "skip"} == {
        "role": "skip",
        "bucket": "skip",
        "prefix": "skip",
        "repository": "skip",
        "job name": "skip",
    }


@pytest.mark.parametrize(
    "role_arn",
    [
        "AmazonSageMaker-ExecutionRole-20260123T111313",  # a name, not an ARN
        f"arn:aws:iam::{ACCOUNT}:user/someone",
        f"arn:aws:iam:us-east-1:{ACCOUNT}:role/x",  # IAM ARNs carry no region
        "arn:aws:iam::1234:role/x",
    ],
)
def test_a_malformed_role_arn_is_one_line(existing: Settings, role_arn: str) -> None:
    report = preflight.run_checks(
        existing.with_overrides(role_arn=role_arn), evidence=_offline_evidence(existing)
    )
    check = _one_line(report, "role")
    assert check.status == "fail"
    assert check.detail == f"role_arn {role_arn!r} is not an IAM role ARN"
    assert check.fix.startswith("use arn:aws:iam::ACCOUNT:role/NAME")


def test_a_role_of_another_account_is_refused(existing: Settings) -> None:
    other = f"arn:aws:iam::999999999999:role/service-role/{ROLE}"
    check = _one_line(preflight.run_checks(existing.with_overrides(role_arn=other)), "role")
    assert (check.status, check.detail) == (
        "fail",
        f"role {ROLE} is in account 999999999999, the credentials in {ACCOUNT}",
    )


def test_a_role_that_does_not_trust_sagemaker_is_refused(existing: Settings, moto_url: str) -> None:
    trust = {
        **SAGEMAKER_TRUST,
        "Statement": [{**SAGEMAKER_TRUST["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}],
    }
    arn = _role(moto_url, "ec2-role", trust)
    check = _one_line(preflight.run_checks(existing.with_overrides(role_arn=arn)), "role")
    assert check.status == "fail"
    assert (
        check.detail
        == "role ec2-role does not trust sagemaker.amazonaws.com (its trust policy has no such Allow)"
    )


def test_a_trust_scoped_to_other_job_names_is_refused(existing: Settings, moto_url: str) -> None:
    statement = {
        **SAGEMAKER_TRUST["Statement"][0],
        "Condition": {
            "ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/course-*"}
        },
    }
    arn = _role(moto_url, "course-role", {**SAGEMAKER_TRUST, "Statement": [statement]})
    report = preflight.run_checks(existing.with_overrides(role_arn=arn))
    check = _one_line(report, "role")
    assert check.status == "fail"
    assert "not jobs named titanic-*" in check.detail
    assert "base_job_name" in check.fix
    assert _by_name(preflight.run_checks(existing.with_overrides(role_arn=arn, base_job_name="course")))[
        "role"
    ].status == ("ok")


def test_a_role_that_does_not_exist_is_refused(existing: Settings) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonSageMaker-ExecutionRole-19990101T000000"
    check = _one_line(preflight.run_checks(existing.with_overrides(role_arn=arn)), "role")
    assert (check.status, check.detail) == (
        "fail",
        f"role AmazonSageMaker-ExecutionRole-19990101T000000 does not exist in account {ACCOUNT}",
    )


def test_a_bucket_in_another_region_is_one_line(existing: Settings, moto_url: str) -> None:
    bucket = f"frankfurt-{uuid.uuid4().hex[:8]}"
    _plain("s3", moto_url, "eu-central-1").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    report = preflight.run_checks(existing.with_overrides(bucket=bucket))
    check = _one_line(report, "bucket")
    assert check.line() == (
        f"fail  bucket      {bucket} is in eu-central-1, not {REGION} -> "
        f'set region = "eu-central-1", or use a bucket in {REGION} (SageMaker reads its own region)'
    )
    assert _by_name(report)["prefix"].status == "skip"


def test_a_missing_bucket_and_repository_are_named_with_what_creating_them_needs(existing: Settings) -> None:
    settings = existing.with_overrides(bucket=f"no-such-{uuid.uuid4().hex[:8]}", repository="no-such-repo")
    checks = _by_name(preflight.run_checks(settings))
    assert checks["bucket"].status == "warn"
    assert (
        checks["bucket"].detail
        == f"{settings.bucket} does not exist: the first upload creates it in {REGION}"
    )
    assert "s3:CreateBucket (statement TrainingBucket of operator-policy.json" in checks["bucket"].fix
    assert checks["repository"].status == "warn"
    assert checks["repository"].detail == f"no-such-repo does not exist in {REGION}: `image` creates it"
    assert "ecr:CreateRepository (statement TrainingImageRepository of operator-policy.json" in (
        checks["repository"].fix
    )


def _denying(monkeypatch: pytest.MonkeyPatch, service: str, operation: str) -> None:
    """Clients of ``service`` answer ``operation`` with AccessDenied, as AWS does for a missing grant."""
    real_client = aws.client

    def client(settings: Settings, name: str, **kwargs: Any) -> Any:
        made = real_client(settings, name, **kwargs)
        if name == service:
            stubber = Stubber(made)
            stubber.add_client_error(
                operation,
                service_error_code="AccessDeniedException",
                service_message=f"User is not authorized to perform: {service}:{operation}",
                http_status_code=400,
            )
            stubber.activate()
        return made

    monkeypatch.setattr(aws, "client", client)


def test_a_denied_call_names_the_action_and_the_statement_that_grants_it(
    existing: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _denying(monkeypatch, "ecr", "describe_repositories")
    check = _one_line(preflight.run_checks(existing, evidence=_offline_evidence(existing)), "repository")
    assert check.line() == (
        f"fail  repository  {existing.repository}: ecr:DescribeRepositories denied -> grant "
        "ecr:DescribeRepositories (statement TrainingImageRepository of operator-policy.json, "
        "`titanic-sm iam render`)"
    )


def test_an_unreadable_trust_is_said_not_failed(existing: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _denying(monkeypatch, "iam", "get_role")
    check = _one_line(preflight.run_checks(existing, evidence=_offline_evidence(existing)), "role")
    assert check.status == "skip"
    assert check.detail == f"{existing.role_arn}: could not read its trust policy (iam:GetRole denied)"
    assert "iam:GetRole (statement ReadExecutionRoleTrust" in check.fix


def test_a_job_name_that_exists_or_is_too_long_is_refused(existing: Settings, moto_url: str) -> None:
    sagemaker = _plain("sagemaker", moto_url)
    name = f"titanic-taken-{uuid.uuid4().hex[:8]}"
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": "x.dkr.ecr/y@sha256:" + "0" * 64,
            "TrainingInputMode": "File",
        },
        RoleArn=existing.role_arn,
        OutputDataConfig={"S3OutputPath": f"s3://{existing.bucket}/titanic/jobs"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    taken = _one_line(preflight.run_checks(existing, job_name=name), "job name")
    assert (taken.status, taken.detail) == ("fail", f"a training job named {name} already exists")
    long = _one_line(preflight.run_checks(existing, job_name="t" * 64), "job name")
    assert long.status == "fail"
    assert "64 characters; at most 63" in long.detail


@pytest.mark.parametrize(
    ("spot", "max_run", "max_wait", "detail"),
    [
        (True, 3600, 1800, "max_wait (1800 s) is shorter than max_run (3600 s)"),
        (True, 3600, None, "spot needs max_wait"),
        (False, 3600, 7200, "max_wait is set but spot is off"),
    ],
)
def test_spot_needs_max_wait_at_least_max_run(
    existing: Settings, spot: bool, max_run: int, max_wait: int | None, detail: str
) -> None:
    report = preflight.run_checks(
        existing,
        use_spot=spot,
        max_run_seconds=max_run,
        max_wait_seconds=max_wait,
        evidence=_offline_evidence(existing),
    )
    check = _one_line(report, "spot")
    assert (check.status, check.detail) == ("fail", detail)
    with pytest.raises(preflight.PreflightError, match="spot: "):
        preflight.require_ready(
            existing,
            use_spot=spot,
            max_run_seconds=max_run,
            max_wait_seconds=max_wait,
            evidence=_offline_evidence(existing),
        )


def test_an_instance_type_outside_the_enum_is_refused(existing: Settings) -> None:
    check = _one_line(preflight.run_checks(existing, instance_type="ml.c5.large"), "instance")
    assert check.status == "fail"
    assert check.detail.startswith("'ml.c5.large' is not a SageMaker training instance type (botocore ")


# --- the CLI: `config check`, and nothing created when a check fails -----------------------------


def _env(settings: Settings) -> dict[str, str]:
    return {
        "TITANIC_SM_TARGET": "aws",
        "TITANIC_SM_REGION": settings.region,
        "TITANIC_SM_BUCKET": settings.bucket,
        "TITANIC_SM_REPOSITORY": settings.repository,
        "TITANIC_SM_ROLE_ARN": settings.role_arn,
        "TITANIC_SM_STATE_DIR": str(settings.state_dir),
    }


def test_config_check_prints_one_line_per_check_and_fails_on_a_bad_setting(existing: Settings) -> None:
    env = {**_env(existing), "TITANIC_SM_ROLE_ARN": "not-an-arn"}
    result = CliRunner().invoke(app, ["config", "check"], env=env)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line.split()[1] for line in lines] == [
        "credentials",
        "role",
        "bucket",
        "prefix",
        "repository",
        "instance",
        "job",
        "spot",
    ]
    assert lines[1].startswith("fail  role        role_arn 'not-an-arn' is not an IAM role ARN -> ")


def test_config_check_speaks_korean_with_titanic_sm_lang_ko(existing: Settings) -> None:
    """Every line in Korean: the status word, each detail and fix (a check's name is the setting
    it checks and stays as it is); the same checks read in English without the variable."""
    korean = CliRunner().invoke(app, ["config", "check"], env={**_env(existing), "TITANIC_SM_LANG": "ko"})
    assert korean.exit_code == 0, korean.output
    lines = korean.output.splitlines()
    assert [line.split()[0] for line in lines] == ["통과"] * 8, lines
    by_name = {line.split()[1]: line for line in lines}
    assert by_name["role"].endswith(f"{ROLE}이(가) sagemaker.amazonaws.com을(를) 신뢰합니다"), lines
    assert by_name["bucket"].endswith(f"{existing.bucket}, 리전 {REGION}"), lines
    assert by_name["prefix"].endswith(f"s3://{existing.bucket}/{existing.prefix}/에 쓸 수 있습니다"), lines
    assert "ml.m5.large 온디맨드: 쿼터 2 (" in by_name["instance"], lines
    assert "사용할 수 있습니다 (" in lines[6] and lines[6].endswith("자)"), lines
    assert by_name["spot"].endswith("온디맨드, max_run 3600초"), lines
    for english_word in ("trusts", "writable", "is free", "on-demand", "account "):
        assert english_word not in korean.output, (english_word, korean.output)
    english = CliRunner().invoke(app, ["config", "check"], env=_env(existing))
    assert [line.split()[0] for line in english.output.splitlines()] == ["ok"] * 8, english.output


def test_train_creates_nothing_when_a_check_fails(existing: Settings, moto_url: str, tmp_path: Path) -> None:
    # A dataset is in S3 already (as `run` leaves it), so only the checks can stop the launch.
    s3 = _plain("s3", moto_url)
    key = f"{existing.prefix}/datasets/abc123"
    s3.put_object(Bucket=existing.bucket, Key=f"{key}/train/train.csv", Body=b"PassengerId,Survived\n1,0\n")
    manifest = {"channels": {"train": f"s3://{existing.bucket}/{key}/train/"}}
    s3.put_object(Bucket=existing.bucket, Key=f"{key}/manifest.json", Body=json.dumps(manifest).encode())
    before = _plain("sagemaker", moto_url).list_training_jobs()["TrainingJobSummaries"]
    env = {**_env(existing), "TITANIC_SM_USE_SPOT": "true", "TITANIC_SM_MAX_WAIT_SECONDS": "60"}
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{existing.repository}@sha256:{'a' * 64}"
    result = CliRunner().invoke(app, ["train", "--image-uri", image], env=env)
    assert result.exit_code == 1, result.output
    assert "fail  spot        max_wait (60 s) is shorter than max_run (3600 s)" in result.output
    assert result.output.strip().endswith(
        "error: pre-flight checks failed; nothing was created (`titanic-sm config check` lists them all)"
    )
    assert _plain("sagemaker", moto_url).list_training_jobs()["TrainingJobSummaries"] == before
    korean = CliRunner().invoke(app, ["train", "--image-uri", image], env={**env, "TITANIC_SM_LANG": "ko"})
    assert korean.exit_code == 1, korean.output
    assert "실패  spot        max_wait(60초)가 max_run(3600초)보다 짧습니다" in korean.output, korean.output
    assert korean.output.strip().endswith(
        "오류: 사전 점검에 실패해 아무것도 만들지 않았습니다 (`titanic-sm config check`가 모두 보여 줍니다)"
    )
    assert _plain("sagemaker", moto_url).list_training_jobs()["TrainingJobSummaries"] == before
    store = existing.job_store_path
    assert not store.exists() or jobs.JobStore(store).list() == []


@pytest.mark.aws_verified
def test_the_configured_account_passes_the_checks(settings: Settings) -> None:
    """On moto: the local target's settings. With TITANIC_SM_AWS_VERIFIED=1: your account's, as
    `titanic-sm config check` reads them (docs/aws.md, 6a); it only reads, and aborts its upload."""
    report = preflight.run_checks(settings)
    assert report.ok, report.lines()
    assert report.account is not None
    assert all("\n" not in line for line in report.lines())
    assert {c.name for c in report.checks} == {
        "credentials",
        "role",
        "bucket",
        "prefix",
        "repository",
        "instance",
        "job name",
        "spot",
    }
