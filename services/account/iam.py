"""Least-privilege IAM for one account, rendered as concrete JSON (``titanic-sm iam render``).

Four documents, each for one principal and purpose:

- ``execution-role-trust.json``: who may assume the execution role (SageMaker, for this account's
  own training jobs named ``<base>-*``: ``aws:SourceAccount`` and ``aws:SourceArn`` against the
  confused deputy);
- ``execution-role-policy.json``: what a training job needs (channels, output, checkpoints, the
  image, logs, metrics);
- ``operator-policy.json``: every call ``titanic-sm --target aws`` and the dashboard make, and no
  more (tests/contract/test_iam_render.py records the calls and checks both directions);
- ``infra-policy.json``: what ``titanic-sm infra up|down|status`` needs to deploy
  infra/titanic-sm.yaml with the caller's own credentials (CloudFormation has no service role here).

The app's Account page and the CLI both call :func:`render` and :func:`write`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.errors import UserError
from services.settings import Settings
from services.training.estimator import MAX_RUN_LIMIT_SECONDS
from services.training.logs import LOG_GROUP

__all__ = [
    "DOCUMENTED_FINDINGS",
    "DOCUMENTS",
    "PolicyInputError",
    "PolicyInputs",
    "render",
    "rendered_for",
    "write",
]

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
# The file each rendered document is written to, in the order `iam render` lists them.
DOCUMENTS = (
    "execution-role-trust.json",
    "execution-role-policy.json",
    "operator-policy.json",
    "infra-policy.json",
)
# What parliament (with its community auditors) reports on each rendered document, and why each
# finding stays: tests/unit/test_iam_render.py asserts exactly these, so a new finding fails and
# a stale exception too. docs/aws.md lists them for reviewers.
DOCUMENTED_FINDINGS: dict[str, dict[str, str]] = {
    "execution-role-policy.json": {
        "CREDENTIALS_EXPOSURE": "ecr:GetAuthorizationToken: SageMaker pulls the training image with it",
    },
    "operator-policy.json": {
        "CREDENTIALS_EXPOSURE": "ecr:GetAuthorizationToken: `docker login` to ECR, to push the image",
        "PERMISSIONS_MANAGEMENT_ACTIONS": (
            "iam:PassRole on the one execution role, only to sagemaker.amazonaws.com; "
            "s3:PutBucketPublicAccessBlock on the one bucket, which it sets to block all public access "
            "when it creates the bucket"
        ),
    },
    "infra-policy.json": {
        "PERMISSIONS_MANAGEMENT_ACTIONS": (
            "the stack creates its own execution role, operator policy and TLS-only bucket policy, "
            "each by name; an admin grants this for the one-time `infra up`"
        ),
        "PRIVILEGE_ESCALATION": "iam:CreatePolicyVersion on the stack's own operator policy (stack updates)",
        "RESOURCE_POLICY_PRIVILEGE_ESCALATION": (
            "s3:PutBucketPolicy/PutLifecycleConfiguration on the stack's own bucket, for its TLS-only "
            "policy and version expiry; the infra policy reads and writes no objects"
        ),
    },
}

_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REPOSITORY = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
# A role name, optionally after its path: console-made roles live under service-role/.
_ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}")
_PREFIX = re.compile(r"[a-zA-Z0-9!_.*'()-]+(?:/[a-zA-Z0-9!_.*'()-]+)*")
# At most 32, so CloudFormation's generated role name <stack>-ExecutionRole-<12> keeps the whole
# stack name (IAM allows 64) and the infra policy's role/<stack>-ExecutionRole-* matches it.
STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,31}")
_STACK = STACK_NAME


class PolicyInputError(UserError, ValueError):
    """A value the policies would be built from is malformed; the message names it."""


@dataclass(frozen=True)
class PolicyInputs:
    """Everything the four documents are concrete about."""

    account: str
    region: str
    bucket: str
    prefix: str
    repository: str
    role_name: str
    base_job_name: str = ""  # empty: the prefix, as Settings.job_name_base
    instance_types: tuple[str, ...] = ("ml.m5.large",)
    max_run_seconds: int = 86_400
    stack_name: str = "titanic-sm"
    partition: str = "aws"
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            ("--account", self.account, _ACCOUNT, "12 digits"),
            ("--region", self.region, _REGION, "like us-east-1"),
            ("--bucket", self.bucket, _BUCKET, "3-63 lowercase letters, digits, dots and hyphens"),
            ("--prefix", self.prefix, _PREFIX, "S3 key segments without leading or trailing '/'"),
            ("--repo", self.repository, _REPOSITORY, "a lowercase ECR repository name"),
            (
                "--role-name",
                self.role_name,
                _ROLE_NAME,
                "[PATH/]NAME, the name 1-64 of letters, digits and +=,.@_-",
            ),
            (
                "--stack-name",
                self.stack_name,
                _STACK,
                "1-32 letters, digits and hyphens, starting with a letter",
            ),
        ]
        for flag, value, pattern, shape in checks:
            if not pattern.fullmatch(value):
                raise PolicyInputError(
                    f"{flag} must be {shape}, not {value!r}",
                    code="iam.bad_flag",
                    values={"flag": flag, "shape": shape, "value": repr(value)},
                )
        if not self.instance_types or not all(t.startswith("ml.") for t in self.instance_types):
            raise PolicyInputError(
                f"--instance-type must be SageMaker types like ml.m5.large, not {self.instance_types}",
                code="iam.bad_instance_types",
                values={"value": str(self.instance_types)},
            )
        if not 1 <= self.max_run_seconds <= MAX_RUN_LIMIT_SECONDS:
            raise PolicyInputError(
                f"--max-run must be between 1 and {MAX_RUN_LIMIT_SECONDS} s, not {self.max_run_seconds}",
                code="iam.bad_max_run",
                values={"limit": MAX_RUN_LIMIT_SECONDS, "value": self.max_run_seconds},
            )

    @classmethod
    def from_settings(cls, settings: Settings, account: str, **overrides: Any) -> PolicyInputs:
        """The inputs for the account ``settings`` point at (role name taken from the role ARN)."""
        values: dict[str, Any] = {
            "account": account,
            "region": settings.region,
            "bucket": settings.bucket,
            "prefix": settings.prefix,
            "repository": settings.repository,
            # With its path (service-role/ for console-made roles): it is part of the role's ARN.
            "role_name": settings.role_arn.split(":role/", 1)[-1],
            "base_job_name": settings.base_job_name,
            "instance_types": (settings.instance_type,),
            "max_run_seconds": settings.max_run_seconds,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def job_base(self) -> str:
        return self.base_job_name or self.prefix

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def repository_arn(self) -> str:
        return self.arn("ecr", f"repository/{self.repository}")

    @property
    def role_arn(self) -> str:
        return self.arn("iam", f"role/{self.role_name}", region=False)

    @property
    def training_jobs_arn(self) -> str:
        # SageMaker lowercases job names in ARNs.
        return self.arn("sagemaker", f"training-job/{self.job_base.lower()}-*")

    @property
    def log_group_arns(self) -> list[str]:
        group = self.arn("logs", f"log-group:{LOG_GROUP}")
        return [group, f"{group}:*"]


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(sid: str, actions: list[str], resources: str | list[str], **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions) if len(actions) > 1 else actions[0],
        "Resource": resources,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def execution_role_trust(inputs: PolicyInputs) -> dict[str, Any]:
    return _document(
        {
            "Sid": "SageMakerTrainingJobsOfThisProject",
            "Effect": "Allow",
            "Principal": {"Service": SAGEMAKER_PRINCIPAL},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": inputs.account},
                "ArnLike": {"aws:SourceArn": inputs.training_jobs_arn},
            },
        }
    )


def execution_role_policy(inputs: PolicyInputs) -> dict[str, Any]:
    objects = f"{inputs.bucket_arn}/{inputs.prefix}"
    return _document(
        _allow("ReadInputChannels", ["s3:GetObject"], f"{objects}/datasets/*"),
        _allow(
            "ListInputChannelsAndCheckpoints",
            ["s3:ListBucket"],
            inputs.bucket_arn,
            StringLike={"s3:prefix": [f"{inputs.prefix}/datasets/*", f"{inputs.prefix}/checkpoints/*"]},
        ),
        _allow("WriteOutput", ["s3:PutObject"], f"{objects}/jobs/*"),
        _allow("ReadWriteCheckpoints", ["s3:GetObject", "s3:PutObject"], f"{objects}/checkpoints/*"),
        _allow(
            "PullTrainingImage",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            inputs.repository_arn,
        ),
        # GetAuthorizationToken has no resource-level permissions.
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        _allow(
            "WriteTrainingLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            inputs.log_group_arns,
        ),
        # PutMetricData has no resource-level permissions; the namespace is the only scope.
        _allow(
            "PublishTrainingMetrics",
            ["cloudwatch:PutMetricData"],
            "*",
            StringEquals={"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"},
        ),
    )


def operator_policy(inputs: PolicyInputs) -> dict[str, Any]:
    """Every call of the aws path (see tests/contract/test_iam_render.py), grouped by purpose."""
    objects = f"{inputs.bucket_arn}/{inputs.prefix}/*"
    return _document(
        # services.image.images: describe, create if missing (with its lifecycle rule), push, find the digest.
        _allow(
            "TrainingImageRepository",
            [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:CreateRepository",
                "ecr:DescribeImages",
                "ecr:DescribeRepositories",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:PutLifecyclePolicy",
                "ecr:UploadLayerPart",
            ],
            inputs.repository_arn,
        ),
        # titanic-sm clean: the images this project pushed, and (--repository) the repository.
        _allow(
            "CleanTrainingImages",
            ["ecr:BatchDeleteImage", "ecr:DeleteRepository", "ecr:ListImages"],
            inputs.repository_arn,
        ),
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        # The launch itself: only the allowed types, network isolation on, a bounded runtime.
        _allow(
            "CreateTrainingJobsWithinLimits",
            ["sagemaker:CreateTrainingJob"],
            inputs.training_jobs_arn,
            **{
                "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": list(inputs.instance_types)},
                "Null": {"sagemaker:InstanceTypes": "false"},
                "Bool": {"sagemaker:NetworkIsolation": "true"},
                "NumericLessThanEquals": {"sagemaker:MaxRuntimeInSeconds": str(inputs.max_run_seconds)},
            },
        ),
        # AddTags: CreateTrainingJob carries the job's tags (project, job id, target).
        _allow(
            "WatchAndStopTrainingJobs",
            ["sagemaker:AddTags", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
            inputs.training_jobs_arn,
        ),
        # The job history reconciles with ListTrainingJobs, which has no resource-level permissions.
        _allow("ListTrainingJobs", ["sagemaker:ListTrainingJobs"], "*"),
        _allow(
            "PassExecutionRoleToSageMakerOnly",
            ["iam:PassRole"],
            inputs.role_arn,
            StringEquals={"iam:PassedToService": SAGEMAKER_PRINCIPAL},
        ),
        # config check: does the role trust sagemaker.amazonaws.com?
        _allow("ReadExecutionRoleTrust", ["iam:GetRole"], inputs.role_arn),
        _allow("ReadTrainingLogs", ["logs:DescribeLogStreams", "logs:GetLogEvents"], inputs.log_group_arns),
        # HeadBucket is authorised as ListBucket and carries no s3:prefix; create-if-missing sets
        # default encryption and blocks public access (services.data.storage.ensure_bucket).
        _allow(
            "TrainingBucket",
            [
                "s3:CreateBucket",
                "s3:GetBucketLocation",
                "s3:ListBucket",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutEncryptionConfiguration",
            ],
            inputs.bucket_arn,
        ),
        # Upload channels and manifests (multipart for large files), download model.tar.gz,
        # and `clean` removes the run's objects under the prefix only.
        _allow(
            "ProjectObjects",
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            objects,
        ),
        # Service Quotas and the Price List have no resource-level permissions.
        _allow(
            "ReadQuotasAndPrices",
            [
                "pricing:GetProducts",
                "servicequotas:ListAWSDefaultServiceQuotas",
                "servicequotas:ListServiceQuotas",
            ],
            "*",
        ),
    )


def infra_policy(inputs: PolicyInputs) -> dict[str, Any]:
    """`infra up|down|status` with the caller's credentials: the stack and what it creates, by name."""
    stack = inputs.arn("cloudformation", f"stack/{inputs.stack_name}/*")
    # CloudFormation names the role <stack>-ExecutionRole-<12 random> (always <= 64 characters).
    role = inputs.arn("iam", f"role/{inputs.stack_name}-ExecutionRole-*", region=False)
    policy = inputs.arn("iam", f"policy/{inputs.stack_name}-OperatorPolicy-*", region=False)
    return _document(
        _allow(
            "DeployTheStack",
            [
                "cloudformation:CreateStack",
                "cloudformation:DeleteStack",
                "cloudformation:DescribeStackEvents",
                "cloudformation:DescribeStackResources",
                "cloudformation:DescribeStacks",
                "cloudformation:UpdateStack",
            ],
            stack,
        ),
        # ValidateTemplate has no resource-level permissions.
        _allow("ValidateTheTemplate", ["cloudformation:ValidateTemplate"], "*"),
        _allow(
            "TheStacksBucket",
            [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:DeleteBucketPolicy",
                "s3:GetBucketPolicy",
                "s3:PutBucketOwnershipControls",
                "s3:PutBucketPolicy",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketTagging",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
            ],
            inputs.bucket_arn,
        ),
        _allow(
            "TheStacksRepository",
            [
                "ecr:CreateRepository",
                "ecr:DeleteRepository",
                "ecr:DescribeRepositories",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:PutLifecyclePolicy",
                "ecr:TagResource",
            ],
            inputs.repository_arn,
        ),
        _allow(
            "TheStacksLogGroup",
            ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource"],
            inputs.log_group_arns,
        ),
        # Does the shared training log group exist yet? DescribeLogGroups has no resource scope.
        _allow("FindTheLogGroup", ["logs:DescribeLogGroups"], "*"),
        _allow(
            "TheStacksRole",
            [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:PutRolePolicy",
                "iam:TagRole",
                "iam:UpdateAssumeRolePolicy",
            ],
            role,
        ),
        _allow(
            "TheStacksOperatorPolicy",
            [
                "iam:CreatePolicy",
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:ListPolicyVersions",
            ],
            policy,
        ),
    )


def render(inputs: PolicyInputs) -> dict[str, dict[str, Any]]:
    """File name → policy document, for the four documents in DOCUMENTS."""
    return {
        "execution-role-trust.json": execution_role_trust(inputs),
        "execution-role-policy.json": execution_role_policy(inputs),
        "operator-policy.json": operator_policy(inputs),
        "infra-policy.json": infra_policy(inputs),
    }


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def rendered_for(settings: Settings, account: str | None = None, **overrides: Any) -> dict[str, str]:
    """File name → JSON text of the four documents for ``settings`` (the dashboard's download
    buttons): the account from ``sts:GetCallerIdentity`` unless given (on local, moto's).

    Raises PolicyInputError for a setting the policies cannot be built from, and botocore's errors
    when the account has to be asked and cannot be.
    """
    if account is None:
        from services import aws

        account = str(aws.client(settings, "sts").get_caller_identity()["Account"])
    inputs = PolicyInputs.from_settings(settings, account, **overrides)
    return {name: to_json(document) for name, document in render(inputs).items()}


def write(inputs: PolicyInputs, out_dir: Path | str) -> list[Path]:
    """Write the four documents into ``out_dir`` (created); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in render(inputs).items():
        path = out / name
        path.write_text(to_json(document), encoding="utf-8")
        written.append(path)
    return written
