"""infra/titanic-sm.yaml deployed into moto's CloudFormation: what the stack creates, and that its
policies let the project's own calls through (and no others).

moto enforces IAM for S3 actions and object ARNs (not conditions, not other services' resources),
so the S3 side is proven by running ``services.data.storage`` and the role's reads and writes under
enforcement; the rest of each policy is checked statement by statement with a small evaluator
that does honour resources and conditions, including every API call the aws code path makes
(recorded while it runs against moto). Settings moto ignores in templates (public access
block, versioning, scan on push, the bucket policy) are checked on the template text in
test_infra_template.py.
"""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import iam_eval
import pytest
from botocore.exceptions import ClientError
from moto.core.authorization import enable_iam_authentication

from services.data import storage
from services.settings import Settings
from services.training import estimator as training
from services.training import logs

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "titanic-sm.yaml"
# Not the Settings default, so the region has to come from the stack; and a region no other test
# uses, because moto's state is per process and /aws/sagemaker/TrainingJobs exists once per region.
REGION = "eu-west-3"
ACCOUNT = "123456789012"  # moto's account
SAGEMAKER = "sagemaker.amazonaws.com"

# moto cannot create AWS::S3::BucketPolicy; test_infra_template.py checks that policy instead.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy:UserWarning")


@dataclass(frozen=True)
class Stack:
    name: str
    outputs: dict[str, str]
    settings: Settings  # built from the stack's Environment output, as docs/aws.md tells users to

    @property
    def role_name(self) -> str:
        return self.outputs["ExecutionRoleArn"].rsplit("/", 1)[1]


def _client(service: str, moto_url: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _deploy(moto_url: str, tmp_path: Path, **parameters: str) -> Stack:
    suffix = uuid.uuid4().hex[:8]
    name = f"titanic-sm-{suffix}"
    values = {"BucketName": f"titanic-sm-infra-{suffix}", "RepositoryName": f"titanic-training-{suffix}"}
    values.update(parameters)
    cfn = _client("cloudformation", moto_url)
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    environment = dict(pair.split("=", 1) for pair in outputs["Environment"].split())
    settings = Settings.from_env(
        environment, state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", data_dir=tmp_path / "data"
    )
    return Stack(name, outputs, settings)


@pytest.fixture
def stack(settings: Settings, moto_url: str, tmp_path: Path) -> Iterator[Stack]:
    # The settings fixture points AWS_ENDPOINT_URL at moto, so the aws target's clients reach it.
    # As `titanic-sm infra up` decides: create the shared group only where it is missing (the
    # first stack of the session creates it; DeletionPolicy Retain keeps it for the next ones).
    existing = _client("logs", moto_url).describe_log_groups(logGroupNamePrefix=logs.LOG_GROUP)["logGroups"]
    deployed = _deploy(moto_url, tmp_path, CreateLogGroup="false" if existing else "true")
    yield deployed
    # The next test's stack creates the region's one training log group again.
    _client("cloudformation", moto_url).delete_stack(StackName=deployed.name)


def _document(raw: Any) -> dict[str, Any]:
    """A policy document as IAM returns it. moto stores CloudFormation's inline role policies as a
    Python repr instead of JSON, so that form is read too."""
    if isinstance(raw, dict):
        return raw
    try:
        return dict(json.loads(raw))
    except ValueError:
        return dict(ast.literal_eval(raw))


_statements = iam_eval.statements
_as_list = iam_eval.as_list
allowed = iam_eval.allowed


def _role_policy(moto_url: str, stack: Stack) -> dict[str, Any]:
    iam = _client("iam", moto_url)
    return _document(iam.get_role_policy(RoleName=stack.role_name, PolicyName="training")["PolicyDocument"])


def _operator_policy(moto_url: str, stack: Stack) -> dict[str, Any]:
    iam = _client("iam", moto_url)
    arn = stack.outputs["OperatorPolicyArn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return _document(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])


def _object_arn(uri: str) -> str:
    bucket, key = storage.parse_s3_uri(uri)
    return f"arn:aws:s3:::{bucket}/{key}"


def _job_arn(job_name: str, region: str = REGION) -> str:
    # SageMaker lowercases job names in ARNs.
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:training-job/{job_name.lower()}"


# --- what the stack creates -----------------------------------------------------------------------


def test_outputs_are_the_settings_the_code_reads(stack: Stack, moto_url: str) -> None:
    settings = stack.settings
    assert settings.target == "aws"
    assert settings.region == REGION
    assert settings.bucket == stack.outputs["BucketName"]
    assert settings.repository == stack.outputs["RepositoryName"]
    assert settings.role_arn == stack.outputs["ExecutionRoleArn"]
    assert settings.prefix == stack.outputs["Prefix"] == "titanic"

    s3 = _client("s3", moto_url)
    rules = s3.get_bucket_encryption(Bucket=settings.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    repository = _client("ecr", moto_url).describe_repositories(repositoryNames=[settings.repository])
    found = repository["repositories"][0]
    assert found["imageTagMutability"] == "IMMUTABLE"
    assert found["repositoryUri"] == stack.outputs["RepositoryUri"]
    assert found["repositoryUri"].startswith(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/")

    groups = _client("logs", moto_url).describe_log_groups(logGroupNamePrefix=logs.LOG_GROUP)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(logs.LOG_GROUP, 365)]


def test_log_group_is_left_to_sagemaker_by_default(moto_url: str, tmp_path: Path, settings: Settings) -> None:
    # The default: the group exists wherever a training job ever ran, and creating it again fails.
    stack = _deploy(moto_url, tmp_path)
    cfn = _client("cloudformation", moto_url)
    resources = cfn.describe_stack_resources(StackName=stack.name)
    cfn.delete_stack(StackName=stack.name)
    types = {r.get("ResourceType") for r in resources["StackResources"]}
    assert "AWS::Logs::LogGroup" not in types
    assert {"AWS::S3::Bucket", "AWS::ECR::Repository", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy"} <= types


def test_trust_policy_admits_only_sagemaker_for_this_accounts_prefixed_jobs(
    stack: Stack, moto_url: str
) -> None:
    role = _client("iam", moto_url).get_role(RoleName=stack.role_name)["Role"]
    trust = _document(role["AssumeRolePolicyDocument"])
    (statement,) = _statements(trust)
    assert statement["Principal"] == {"Service": SAGEMAKER}
    assert statement["Action"] == "sts:AssumeRole"

    job = training.job_name_for(stack.settings.prefix)

    def may_assume(source_arn: str, account: str = ACCOUNT) -> bool:
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": account}
        return allowed(trust, "sts:AssumeRole", "*", context)

    assert may_assume(_job_arn(job))
    assert not may_assume(_job_arn(job), account="210987654321")
    assert not may_assume(_job_arn(job, region="us-east-1"))  # another region's jobs
    assert not may_assume(_job_arn("someone-elses-job"))
    assert not may_assume(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{job}")
    assert not allowed(trust, "sts:AssumeRole", "*", {})  # no source at all: the confused deputy


def test_execution_role_policy_is_what_a_training_job_needs(stack: Stack, moto_url: str) -> None:
    policy = _role_policy(moto_url, stack)
    settings = stack.settings
    job = training.job_name_for(settings.prefix)
    channel = f"{settings.s3_uri(storage.DATASETS, 'abc123', 'train')}/train.csv"
    model = f"{training.output_path(settings)}/{job}/output/model.tar.gz"
    checkpoint = f"{training.checkpoint_uri(settings, job)}/model.txt"
    bucket_arn = f"arn:aws:s3:::{settings.bucket}"

    assert allowed(policy, "s3:GetObject", _object_arn(channel))
    assert allowed(policy, "s3:PutObject", _object_arn(model))
    assert allowed(policy, "s3:GetObject", _object_arn(checkpoint))
    assert allowed(policy, "s3:PutObject", _object_arn(checkpoint))
    for prefix in (
        storage.parse_s3_uri(channel)[1].rsplit("/", 1)[0] + "/",
        storage.parse_s3_uri(checkpoint)[1],
    ):
        assert allowed(policy, "s3:ListBucket", bucket_arn, {"s3:prefix": prefix})
    # Nothing more: no writing the inputs, no reading other jobs' outputs, nothing outside the prefix.
    assert not allowed(policy, "s3:PutObject", _object_arn(channel))
    assert not allowed(policy, "s3:GetObject", _object_arn(model))
    assert not allowed(policy, "s3:DeleteObject", _object_arn(checkpoint))
    assert not allowed(policy, "s3:GetObject", f"{bucket_arn}/other/train.csv")
    assert not allowed(policy, "s3:ListBucket", bucket_arn, {"s3:prefix": "other/"})
    assert not allowed(policy, "s3:ListBucket", bucket_arn)

    repository_arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{settings.repository}"
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"):
        assert allowed(policy, action, repository_arn)
        assert not allowed(policy, action, f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other")
    assert allowed(policy, "ecr:GetAuthorizationToken", "*")
    assert not allowed(policy, "ecr:PutImage", repository_arn)

    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logs.LOG_GROUP}:log-stream:{job}/algo-1-1700000000"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert allowed(policy, action, stream)
    assert allowed(
        policy, "logs:CreateLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logs.LOG_GROUP}"
    )
    assert not allowed(
        policy, "logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other:log-stream:x"
    )
    namespace = {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}
    assert allowed(policy, "cloudwatch:PutMetricData", "*", namespace)
    assert not allowed(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Other"})
    assert not allowed(policy, "iam:PassRole", settings.role_arn)


def test_operator_policy_covers_every_call_of_the_aws_target(stack: Stack, moto_url: str) -> None:
    policy = _operator_policy(moto_url, stack)
    settings = stack.settings
    job = training.job_name_for(settings.prefix)
    repository_arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{settings.repository}"
    push = ("ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage")
    for action in (
        *push,
        "ecr:BatchCheckLayerAvailability",
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
    ):
        assert allowed(policy, action, repository_arn), action
        assert not allowed(policy, action, f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other"), action
    assert allowed(policy, "ecr:GetAuthorizationToken", "*")
    # `clean` removes the images it pushed and (--repository) the repository: this one only.
    for action in ("ecr:BatchDeleteImage", "ecr:DeleteRepository", "ecr:ListImages"):
        assert allowed(policy, action, repository_arn), action
        assert not allowed(policy, action, f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other"), action

    for action in ("AddTags", "DescribeTrainingJob", "StopTrainingJob"):
        assert allowed(policy, f"sagemaker:{action}", _job_arn(job)), action
        assert not allowed(policy, f"sagemaker:{action}", _job_arn("other-20260101-000000-abcd")), action
    within = {
        "sagemaker:InstanceTypes": ["ml.m5.large"],
        "sagemaker:NetworkIsolation": "true",
        "sagemaker:MaxRuntimeInSeconds": "3600",
    }
    assert allowed(policy, "sagemaker:CreateTrainingJob", _job_arn(job), within)
    assert not allowed(policy, "sagemaker:CreateTrainingJob", _job_arn("other-20260101-000000-abcd"), within)
    for key, outside in (
        ("sagemaker:InstanceTypes", ["ml.p4d.24xlarge"]),
        ("sagemaker:NetworkIsolation", "false"),
        ("sagemaker:MaxRuntimeInSeconds", str(28 * 24 * 3600)),
    ):
        assert not allowed(policy, "sagemaker:CreateTrainingJob", _job_arn(job), {**within, key: outside}), (
            key
        )
    missing = {k: v for k, v in within.items() if k != "sagemaker:InstanceTypes"}
    assert not allowed(policy, "sagemaker:CreateTrainingJob", _job_arn(job), missing)
    assert allowed(policy, "sagemaker:ListTrainingJobs", "*")
    assert not allowed(policy, "sagemaker:CreateEndpoint", "*")

    to_sagemaker = {"iam:PassedToService": SAGEMAKER}
    assert allowed(policy, "iam:PassRole", settings.role_arn, to_sagemaker)
    assert not allowed(
        policy, "iam:PassRole", settings.role_arn, {"iam:PassedToService": "ec2.amazonaws.com"}
    )
    assert not allowed(policy, "iam:PassRole", settings.role_arn)
    assert not allowed(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", to_sagemaker)

    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logs.LOG_GROUP}"
    for action in ("logs:DescribeLogStreams", "logs:GetLogEvents"):
        assert allowed(policy, action, f"{group}:*") or allowed(policy, action, group), action
    assert allowed(policy, "logs:GetLogEvents", f"{group}:log-stream:{job}/algo-1-1700000000")
    assert not allowed(policy, "logs:PutLogEvents", f"{group}:log-stream:{job}/algo-1-1700000000")

    for action in (
        "servicequotas:ListServiceQuotas",
        "servicequotas:ListAWSDefaultServiceQuotas",
        "pricing:GetProducts",
    ):
        assert allowed(policy, action, "*"), action
    # The aws path lists quotas (services/instance/quotas.py fetch_quota_table) and reads no single one.
    for action in ("servicequotas:RequestServiceQuotaIncrease", "servicequotas:GetServiceQuota"):
        assert not allowed(policy, action, "*"), action


# --- S3 under moto's IAM enforcement ------------------------------------------------------------------


def _operator_credentials(moto_url: str, stack: Stack) -> dict[str, str]:
    iam = _client("iam", moto_url)
    user = f"operator-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=stack.outputs["OperatorPolicyArn"])
    # moto authorises HeadBucket as "s3:HeadBucket"; AWS authorises it as s3:ListBucket, which
    # the operator policy grants. This shim stands in for that mapping, nothing more.
    iam.put_user_policy(
        UserName=user,
        PolicyName="moto-headbucket-is-listbucket",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:HeadBucket",
                        "Resource": f"arn:aws:s3:::{stack.settings.bucket}",
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def _execution_role_credentials(moto_url: str, stack: Stack) -> dict[str, str]:
    iam = _client("iam", moto_url)
    # Re-put the inline policy as JSON: moto's access check cannot read the repr it stored.
    document = _role_policy(moto_url, stack)
    iam.put_role_policy(RoleName=stack.role_name, PolicyName="training", PolicyDocument=json.dumps(document))
    credentials = _client("sts", moto_url).assume_role(
        RoleArn=stack.outputs["ExecutionRoleArn"], RoleSessionName="training-job"
    )["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def _s3_as(moto_url: str, credentials: Mapping[str, str]) -> Any:
    return boto3.client("s3", region_name=REGION, endpoint_url=moto_url, **credentials)


def _denied(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("AccessDenied", "403")
    return False


def _channel_files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "ch").mkdir()
    train = tmp_path / "ch" / "train.csv"
    validation = tmp_path / "ch" / "validation.csv"
    train.write_text("PassengerId,Survived,Sex\n1,0,male\n2,1,female\n")
    validation.write_text("PassengerId,Survived,Sex\n3,1,female\n")
    return train, validation


def test_operator_runs_the_storage_code_and_cannot_write_elsewhere(
    stack: Stack, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack.settings
    job = training.job_name_for(settings.prefix)
    artifact = f"{training.output_path(settings)}/{job}/output/model.tar.gz"
    # What SageMaker would have written, put there by the stack's owner.
    _client("s3", moto_url).put_object(
        Bucket=settings.bucket, Key=storage.parse_s3_uri(artifact)[1], Body=b"tar"
    )
    credentials = _operator_credentials(moto_url, stack)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["aws_secret_access_key"])
    train, validation = _channel_files(tmp_path)

    with enable_iam_authentication():
        channels = storage.upload_channels(settings, train, validation)
        assert channels.uploaded
        assert [v.version for v in storage.list_dataset_versions(settings)] == [channels.version]
        assert storage.object_exists(settings, channels.manifest_uri)
        downloaded = storage.download_file(settings, artifact, tmp_path / "model.tar.gz")
        assert downloaded.read_bytes() == b"tar"

        s3 = _s3_as(moto_url, credentials)
        assert _denied(s3.put_object, Bucket=settings.bucket, Key="elsewhere/x.csv", Body=b"1")
        assert _denied(s3.get_object, Bucket=settings.bucket, Key="elsewhere/x.csv")
        assert _denied(s3.delete_object, Bucket=settings.bucket, Key="elsewhere/x.csv")
        assert _denied(s3.delete_bucket, Bucket=settings.bucket)


def test_execution_role_reads_channels_writes_output_and_checkpoints_only(
    stack: Stack, moto_url: str
) -> None:
    settings = stack.settings
    job = training.job_name_for(settings.prefix)
    channel_key = storage.parse_s3_uri(f"{settings.s3_uri(storage.DATASETS, 'abc123', 'train')}/train.csv")[1]
    model_key = storage.parse_s3_uri(f"{training.output_path(settings)}/{job}/output/model.tar.gz")[1]
    checkpoint_key = storage.parse_s3_uri(f"{training.checkpoint_uri(settings, job)}/model.txt")[1]
    _client("s3", moto_url).put_object(Bucket=settings.bucket, Key=channel_key, Body=b"PassengerId\n1\n")
    s3 = _s3_as(moto_url, _execution_role_credentials(moto_url, stack))
    bucket = settings.bucket

    with enable_iam_authentication():
        assert s3.get_object(Bucket=bucket, Key=channel_key)["Body"].read() == b"PassengerId\n1\n"
        s3.put_object(Bucket=bucket, Key=model_key, Body=b"model")
        s3.put_object(Bucket=bucket, Key=checkpoint_key, Body=b"checkpoint")
        assert s3.get_object(Bucket=bucket, Key=checkpoint_key)["Body"].read() == b"checkpoint"

        assert _denied(s3.put_object, Bucket=bucket, Key=channel_key, Body=b"overwritten input")
        assert _denied(s3.get_object, Bucket=bucket, Key=model_key)
        assert _denied(s3.put_object, Bucket=bucket, Key="elsewhere/x", Body=b"1")
        assert _denied(s3.delete_object, Bucket=bucket, Key=checkpoint_key)


def test_stack_deletion_removes_the_role_and_the_repository(stack: Stack, moto_url: str) -> None:
    # moto keeps a stack's managed policies after deletion, so the operator policy is not checked.
    cfn = _client("cloudformation", moto_url)
    cfn.delete_stack(StackName=stack.name)
    iam = _client("iam", moto_url)
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_role(RoleName=stack.role_name)
    with pytest.raises(ClientError, match="RepositoryNotFound"):
        _client("ecr", moto_url).describe_repositories(repositoryNames=[stack.settings.repository])
    # The shared training log group outlives the stack (DeletionPolicy Retain).
    groups = _client("logs", moto_url).describe_log_groups(logGroupNamePrefix=logs.LOG_GROUP)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [logs.LOG_GROUP]


# --- every call the aws code path makes, recorded, against the deployed operator policy ------------

UNAUTHORISED_CALLS = iam_eval.UNAUTHORISED_CALLS


def _iam_requests(service: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    return iam_eval.requests_of(service, operation, params, region=REGION, account=ACCOUNT)


def test_every_call_of_the_aws_code_path_is_allowed_to_the_operator(
    stack: Stack, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import aws
    from services.image import images
    from services.jobs import store as jobs
    from services.jobs import sync as job_sync

    calls: list[tuple[str, str, dict[str, Any]]] = []
    real_session = aws.boto_session

    def recording_session(settings: Settings) -> Any:
        session = real_session(settings)

        def record(model: Any, params: Mapping[str, Any], **_: Any) -> None:
            calls.append((model.service_model.signing_name, model.name, dict(params)))

        session.events.register("provide-client-params", record)
        return session

    monkeypatch.setattr(aws, "boto_session", recording_session)
    settings = stack.settings
    digest = "sha256:" + "ab" * 32

    # The stages of `titanic-sm run` on aws that need no Docker: repository, upload, fit, logs,
    # history reconcile, artifact and failure-reason reads.
    repository_uri = images.ensure_repository(settings)
    train, validation = _channel_files(tmp_path)
    channels = storage.upload_channels(settings, train, validation)
    storage.list_dataset_versions(settings)
    job = training.job_name_for(settings.prefix)
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
    logs.read_events(settings, job)
    store = jobs.JobStore(tmp_path / "jobs.sqlite3")
    store.create(target="aws", job_name=job)
    job_sync.sync(settings, store)
    artifact = f"{training.output_path(settings)}/{job}/output/model.tar.gz"
    assert not storage.object_exists(settings, artifact)  # moto writes no artifact

    policy = _operator_policy(moto_url, stack)
    services = {service for service, _, _ in calls}
    assert {"s3", "ecr", "sagemaker", "logs"} <= services, services
    denied = [
        (action, resource)
        for service, operation, params in calls
        for action, resource, context in _iam_requests(service, operation, params)
        if action not in UNAUTHORISED_CALLS and not allowed(policy, action, resource, context)
    ]
    assert denied == []
