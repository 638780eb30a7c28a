"""infra/titanic-sm.yaml, read as text: what moto ignores when it deploys the template (public
access block, versioning, scan on push, lifecycle rules, the bucket policy), and the parameters
that must agree with the code's own defaults and names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from services.image import images
from services.settings import Settings
from services.training import estimator as training
from services.training import logs

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "titanic-sm.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode_str(TEMPLATE.read_text())
    assert not errors, errors
    return dict(parsed)


def _properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"])


def test_bucket_is_private_encrypted_and_versioned(template: dict[str, Any]) -> None:
    bucket = _properties(template, "TrainingBucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # Versioning keeps every overwritten object unless old versions expire.
    (lifecycle,) = bucket["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0


def test_bucket_policy_denies_every_request_without_tls(template: dict[str, Any]) -> None:
    policy = _properties(template, "TrainingBucketPolicy")
    assert policy["Bucket"] == {"Ref": "TrainingBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["TrainingBucket", "Arn"]},
        {"Fn::Sub": "${TrainingBucket.Arn}/*"},
    ]


def test_repository_is_immutable_scanned_and_keeps_the_last_images(template: dict[str, Any]) -> None:
    repository = _properties(template, "TrainingRepository")
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["EmptyOnDelete"] is True  # docs/aws.md's clean-up relies on it
    assert repository["RepositoryName"] == {"Ref": "RepositoryName"}
    keep = template["Parameters"]["KeepImages"]["Default"]
    assert keep == images.KEEP_LAST_IMAGES
    text = repository["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"].replace("${KeepImages}", str(keep))
    # The same rule services.image.images puts on a repository it creates itself.
    assert json.loads(text) == json.loads(images.lifecycle_policy(keep))


def test_log_group_is_sagemakers_and_optional(template: dict[str, Any]) -> None:
    group = template["Resources"]["TrainingLogGroup"]
    assert group["Properties"]["LogGroupName"] == logs.LOG_GROUP
    assert group["Condition"] == "CreateTheLogGroup"
    assert template["Conditions"]["CreateTheLogGroup"] == {"Fn::Equals": [{"Ref": "CreateLogGroup"}, "true"]}


def test_parameter_defaults_are_the_code_defaults(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["RepositoryName"]["Default"] == Settings.repository
    assert parameters["JobNamePrefix"]["Default"] == Settings.prefix
    assert "Default" not in parameters["BucketName"]  # a bucket name is global: the user picks one


@pytest.mark.parametrize(
    ("prefix", "valid"),
    [
        ("titanic", True),
        ("team-a", True),
        ("t", True),
        ("Titanic", False),
        ("titanic-", False),
        ("a/b", False),
    ],
)
def test_job_name_prefix_pattern_admits_only_names_the_trust_condition_matches(
    template: dict[str, Any], prefix: str, valid: bool
) -> None:
    # SageMaker lowercases job names in ARNs; a prefix job_name_for would change breaks the match.
    pattern = template["Parameters"]["JobNamePrefix"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, prefix)) is valid
    if valid:
        job = training.job_name_for(prefix)
        assert job.startswith(f"{prefix}-")
        assert training.JOB_NAME_PATTERN.match(job)


def test_outputs_name_every_setting_the_aws_target_needs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"BucketName", "RepositoryName", "RepositoryUri", "ExecutionRoleArn", "OperatorPolicyArn"} <= set(
        outputs
    )
    environment = " ".join(outputs["Environment"]["Value"]["Fn::Sub"].split())
    names = re.findall(r"(TITANIC_SM_[A-Z_]+)=", environment)
    assert names == [
        "TITANIC_SM_TARGET",
        "TITANIC_SM_REGION",
        "TITANIC_SM_BUCKET",
        "TITANIC_SM_REPOSITORY",
        "TITANIC_SM_ROLE_ARN",
        "TITANIC_SM_PREFIX",
    ]
    # Each is a real Settings field, so Settings.from_env reads it.
    fields = {f"TITANIC_SM_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert set(names) <= fields
