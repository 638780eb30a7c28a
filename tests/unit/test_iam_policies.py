"""A small IAM auditor over every policy in infra/titanic-sm.yaml.

Rules (an Allow is what grants, so Deny statements may be broad, like the bucket's TLS-only deny):
- no ``"Action": "*"``, no ``service:*`` and no wildcard action names;
- no ``"Resource": "*"`` except for actions that have no resource-level permissions;
- no Allow with NotAction or NotResource, and no Allow to ``Principal: "*"`` in a bucket policy;
- ``iam:PassRole`` names its role and carries ``iam:PassedToService``;
- a service trust policy carries ``aws:SourceArn`` and ``aws:SourceAccount`` (confused deputy);
- no AWS managed policies (such as AmazonSageMakerFullAccess) attached to the role.

parliament is not used: it cannot parse trust policies and does not flag PassRole without
PassedToService (facts.md). cfn-lint checks the template's correctness alongside.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.decode import decode_str

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "titanic-sm.yaml"

# Actions with no resource-level permissions: "*" is the only resource IAM accepts for them.
WILDCARD_RESOURCE_ACTIONS = frozenset(
    {
        "ecr:getauthorizationtoken",
        "cloudwatch:putmetricdata",
        "sagemaker:listtrainingjobs",
        "pricing:getproducts",
        "servicequotas:listservicequotas",
        "servicequotas:listawsdefaultservicequotas",
        "logs:describeloggroups",
        "cloudformation:validatetemplate",
    }
)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _as_list(document["Statement"])


def audit(document: Mapping[str, Any], kind: str) -> list[str]:
    """Findings for one policy document; ``kind`` is identity, trust or resource."""
    findings: list[str] = []
    for index, statement in enumerate(_statements(document)):
        name = statement.get("Sid", f"statement {index}")
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            findings.append(f"{name}: Allow with NotAction/NotResource grants everything else")
            continue
        actions = [str(a) for a in _as_list(statement["Action"])]
        for action in actions:
            if action == "*" or action.endswith(":*"):
                findings.append(f"{name}: Action {action!r} grants a whole service")
            elif "*" in action or "?" in action:
                findings.append(f"{name}: wildcard action {action!r}; list the actions")
        condition = statement.get("Condition", {})
        if kind == "identity":
            resources = _as_list(statement.get("Resource", "*"))
            if "*" in resources:
                broad = [a for a in actions if a.lower() not in WILDCARD_RESOURCE_ACTIONS]
                if broad:
                    findings.append(f"{name}: Resource '*' for {', '.join(broad)}")
            if "iam:passrole" in (a.lower() for a in actions):
                passed_to = condition.get("StringEquals", {}).get("iam:PassedToService")
                if not passed_to or "*" in str(passed_to):
                    findings.append(f"{name}: iam:PassRole without iam:PassedToService")
        elif kind == "trust":
            if "Service" in statement.get("Principal", {}):
                source_arn = {**condition.get("ArnLike", {}), **condition.get("ArnEquals", {})}
                if "aws:SourceArn" not in source_arn:
                    findings.append(f"{name}: service trust without aws:SourceArn (confused deputy)")
                if "aws:SourceAccount" not in condition.get("StringEquals", {}):
                    findings.append(f"{name}: service trust without aws:SourceAccount")
        elif kind == "resource" and statement.get("Principal") in ("*", {"AWS": "*"}):
            findings.append(f"{name}: bucket policy allows Principal '*'")
    return findings


def template() -> dict[str, Any]:
    parsed, errors = decode_str(TEMPLATE.read_text())
    assert not errors, errors
    return dict(parsed)


def policy_documents(resources: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(where, kind, document) for every policy document in the template's resources."""
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            yield f"{logical_id} trust", "trust", properties["AssumeRolePolicyDocument"]
            for inline in properties.get("Policies", []):
                yield f"{logical_id} {inline['PolicyName']}", "identity", inline["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            yield logical_id, "identity", properties["PolicyDocument"]
        elif resource["Type"] == "AWS::S3::BucketPolicy":
            yield logical_id, "resource", properties["PolicyDocument"]


def test_every_policy_in_the_template_passes_the_audit() -> None:
    documents = list(policy_documents(template()["Resources"]))
    assert sorted((where, kind) for where, kind, _ in documents) == [
        ("ExecutionRole training", "identity"),
        ("ExecutionRole trust", "trust"),
        ("OperatorPolicy", "identity"),
        ("TrainingBucketPolicy", "resource"),
    ]
    findings = [f"{where}: {finding}" for where, kind, doc in documents for finding in audit(doc, kind)]
    assert findings == []


def test_the_role_has_no_aws_managed_policies() -> None:
    role = template()["Resources"]["ExecutionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role, "e.g. AmazonSageMakerFullAccess is far more than training needs"


def test_wildcard_resources_in_the_template_are_only_the_unavoidable_ones() -> None:
    """The audit allows these; the template (with `iam render`'s infra policy, which holds the
    last two) should use them and nothing else on "*"."""
    on_star = {
        str(action).lower()
        for _, kind, doc in policy_documents(template()["Resources"])
        if kind == "identity"
        for statement in _statements(doc)
        if "*" in _as_list(statement.get("Resource"))
        for action in _as_list(statement["Action"])
    }
    assert on_star == WILDCARD_RESOURCE_ACTIONS - {
        "logs:describeloggroups",
        "cloudformation:validatetemplate",
    }


def _identity(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "Seeded", "Effect": "Allow", **statement}]}


@pytest.mark.parametrize(
    ("kind", "document", "cause"),
    [
        ("identity", _identity({"Action": "*", "Resource": "arn:aws:s3:::b/*"}), "grants a whole service"),
        ("identity", _identity({"Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}), "grants a whole service"),
        ("identity", _identity({"Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}), "wildcard action"),
        ("identity", _identity({"Action": "s3:GetObject", "Resource": "*"}), "Resource '*' for s3:GetObject"),
        ("identity", _identity({"NotAction": "iam:*", "Resource": "*"}), "NotAction"),
        (
            "identity",
            _identity({"Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/r"}),
            "PassedToService",
        ),
        (
            "identity",
            _identity(
                {
                    "Action": "iam:PassRole",
                    "Resource": "arn:aws:iam::1:role/r",
                    "Condition": {"StringEquals": {"iam:PassedToService": "*"}},
                }
            ),
            "PassedToService",
        ),
        (
            "trust",
            _identity(
                {
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                }
            ),
            "aws:SourceArn",
        ),
        (
            "trust",
            _identity(
                {
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:us-east-1:1:training-job/t-*"}
                    },
                }
            ),
            "aws:SourceAccount",
        ),
        (
            "resource",
            _identity({"Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
            "'*'",
        ),
    ],
)
def test_the_auditor_catches_each_seeded_mistake(kind: str, document: dict[str, Any], cause: str) -> None:
    findings = audit(document, kind)
    assert len(findings) == 1, findings
    assert findings[0].startswith("Seeded: ")
    assert cause in findings[0]


def test_the_auditor_lets_unavoidable_wildcards_and_broad_denies_through() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Token", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "Prices", "Effect": "Allow", "Action": ["pricing:GetProducts"], "Resource": "*"},
            {"Sid": "NoTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"},
        ],
    }
    assert audit(document, "identity") == []
    assert audit(document, "resource") == []


def test_cfn_lint_finds_nothing() -> None:
    matches = lint(
        TEMPLATE.read_text(), config=ManualArgs(regions=["us-east-1", "eu-west-1", "eu-central-1"])
    )
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []
