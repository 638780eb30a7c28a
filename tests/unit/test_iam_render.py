"""`titanic-sm iam render`: the four documents, linted by parliament (with its community auditors and
our PassRole auditor), the trust policy evaluated on its own, and the template holding the very
same documents.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import iam_eval
import pytest
from cfnlint.decode import decode_str
from test_iam_policies import WILDCARD_RESOURCE_ACTIONS, audit
from typer.testing import CliRunner

from services.account import iam
from services.cli import app

ROOT = Path(__file__).resolve().parents[2]
AUDITORS = Path(__file__).resolve().parent / "parliament_auditors"
ACCOUNT = "111122223333"
ROLE = "AmazonSageMaker-ExecutionRole-20260123T111313"
INPUTS = iam.PolicyInputs(
    account=ACCOUNT,
    region="us-east-1",
    bucket="course-bucket",
    prefix="titanic",
    repository="titanic-training",
    role_name=ROLE,
)
PASSROLE_ISSUE = "PASSROLE_WITHOUT_PASSEDTOSERVICE"


def _parliament(document: dict[str, Any]) -> list[tuple[str, str]]:
    import parliament
    from parliament import analyze_policy_string

    parliament.config.setdefault(
        PASSROLE_ISSUE,
        {
            "title": "iam:PassRole without iam:PassedToService",
            "description": "The role can be passed to any service.",
            "severity": "HIGH",
            "group": "CUSTOM",
        },
    )
    policy = analyze_policy_string(
        json.dumps(document), include_community_auditors=True, private_auditors_custom_path=str(AUDITORS)
    )
    return [(f.issue, json.dumps(f.detail or f.location, default=str)) for f in policy.findings]


def test_the_four_documents_are_written_as_json(tmp_path: Path) -> None:
    written = iam.write(INPUTS, tmp_path / "iam")
    assert [p.name for p in written] == list(iam.DOCUMENTS)
    for path in written:
        document = json.loads(path.read_text())
        assert document["Version"] == "2012-10-17"
        assert all("Sid" in s for s in document["Statement"])
        assert "${" not in path.read_text()  # concrete: nothing left to substitute


@pytest.mark.parametrize("name", [n for n in iam.DOCUMENTS if "trust" not in n])
def test_parliament_finds_only_the_documented_exceptions(name: str) -> None:
    findings = _parliament(iam.render(INPUTS)[name])
    assert sorted({issue for issue, _ in findings}) == sorted(iam.DOCUMENTED_FINDINGS.get(name, {})), findings


@pytest.mark.parametrize("name", [n for n in iam.DOCUMENTS if "trust" not in n])
def test_our_own_audit_passes_every_identity_policy(name: str) -> None:
    assert audit(iam.render(INPUTS)[name], "identity") == []


def test_the_trust_policy_passes_the_trust_audit() -> None:
    assert audit(iam.render(INPUTS)["execution-role-trust.json"], "trust") == []


def _passrole(**extra: Any) -> dict[str, Any]:
    statement = {
        "Sid": "Pass",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": "arn:aws:iam::123456789012:role/r",
    }
    return {"Version": "2012-10-17", "Statement": [{**statement, **extra}]}


@pytest.mark.parametrize(
    "document",
    [
        _passrole(),
        _passrole(Condition={"StringEquals": {"iam:PassedToService": "*"}}),
        _passrole(Condition={"StringLike": {"iam:PassedToService": "*.amazonaws.com"}}),
        _passrole(
            Condition={"ForAllValues:StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        ),
        _passrole(Condition={"StringEquals": {"iam:AssociatedResourceArn": "arn:aws:sagemaker:*"}}),
        _passrole(Action="iam:Pass*"),
        _passrole(Action="iam:*"),
    ],
)
def test_the_passrole_auditor_catches_a_role_passable_to_any_service(document: dict[str, Any]) -> None:
    assert PASSROLE_ISSUE in {issue for issue, _ in _parliament(document)}


def test_the_passrole_auditor_lets_a_named_service_through() -> None:
    document = _passrole(Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
    assert PASSROLE_ISSUE not in {issue for issue, _ in _parliament(document)}
    assert PASSROLE_ISSUE not in {
        issue for issue, _ in _parliament(iam.render(INPUTS)["operator-policy.json"])
    }


# --- the trust policy on its own ------------------------------------------------------------------


def _job_arn(name: str, region: str = "us-east-1", account: str = ACCOUNT, kind: str = "training-job") -> str:
    return f"arn:aws:sagemaker:{region}:{account}:{kind}/{name}"


def test_the_trust_policy_admits_only_sagemaker_for_this_accounts_own_jobs() -> None:
    trust = iam.render(INPUTS)["execution-role-trust.json"]
    (statement,) = iam_eval.statements(trust)
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"

    def may_assume(source_arn: str, account: str = ACCOUNT) -> bool:
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": account}
        return iam_eval.allowed(trust, "sts:AssumeRole", "*", context)

    job = "titanic-20260101-000000-abc123"
    assert may_assume(_job_arn(job))
    assert not may_assume(_job_arn(job), account="999999999999")
    assert not may_assume(_job_arn(job, account="999999999999"), account="999999999999")
    assert not may_assume(_job_arn(job, region="eu-west-1"))
    assert not may_assume(_job_arn("someone-else-20260101-000000-abc123"))
    assert not may_assume(_job_arn(job, kind="processing-job"))
    assert not iam_eval.allowed(trust, "sts:AssumeRole", "*", {})


def test_a_base_job_name_scopes_the_trust_and_the_jobs() -> None:
    inputs = iam.PolicyInputs(**{**INPUTS.__dict__, "base_job_name": "Team-A"})
    documents = iam.render(inputs)
    trust = documents["execution-role-trust.json"]
    # SageMaker lowercases job names in ARNs, so the patterns are lowercase.
    context = {"aws:SourceArn": _job_arn("team-a-20260101-000000-abc123"), "aws:SourceAccount": ACCOUNT}
    assert iam_eval.allowed(trust, "sts:AssumeRole", "*", context)
    assert not iam_eval.allowed(
        trust, "sts:AssumeRole", "*", {**context, "aws:SourceArn": _job_arn("titanic-20260101-000000-abc123")}
    )
    job = _job_arn("team-a-20260101-000000-abc123")
    assert iam_eval.allowed(documents["operator-policy.json"], "sagemaker:DescribeTrainingJob", job)


# --- the operator's SageMaker limits ----------------------------------------------------------------


def test_the_operator_may_create_jobs_only_within_the_limits() -> None:
    inputs = iam.PolicyInputs(
        **{**INPUTS.__dict__, "instance_types": ("ml.m5.large", "ml.m5.xlarge"), "max_run_seconds": 3600}
    )
    policy = iam.render(inputs)["operator-policy.json"]
    job = _job_arn("titanic-20260101-000000-abc123")
    within = {
        "sagemaker:InstanceTypes": ["ml.m5.xlarge"],
        "sagemaker:NetworkIsolation": "true",
        "sagemaker:MaxRuntimeInSeconds": "3600",
    }
    assert iam_eval.allowed(policy, "sagemaker:CreateTrainingJob", job, within)
    for key, outside in (
        ("sagemaker:InstanceTypes", ["ml.p4d.24xlarge"]),
        ("sagemaker:InstanceTypes", ["ml.m5.large", "ml.p4d.24xlarge"]),
        ("sagemaker:NetworkIsolation", "false"),
        ("sagemaker:MaxRuntimeInSeconds", "3601"),
    ):
        assert not iam_eval.allowed(policy, "sagemaker:CreateTrainingJob", job, {**within, key: outside}), key
    without_types = {k: v for k, v in within.items() if k != "sagemaker:InstanceTypes"}
    assert not iam_eval.allowed(policy, "sagemaker:CreateTrainingJob", job, without_types)
    assert not iam_eval.allowed(policy, "sagemaker:CreateTrainingJob", _job_arn("other-1"), within)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("account", "1234", "--account must be 12 digits"),
        ("region", "useast1", "--region must be like us-east-1"),
        ("bucket", "Bad_Bucket", "--bucket must be"),
        ("repository", "Titanic", "--repo must be a lowercase ECR repository name"),
        ("role_name", "r" * 65, "--role-name must be [PATH/]NAME"),
        ("role_name", "service-role/", "--role-name must be [PATH/]NAME"),
        ("prefix", "/titanic/", "--prefix must be S3 key segments"),
        ("stack_name", "s" * 33, "--stack-name must be 1-32"),
        ("instance_types", ("m5.large",), "--instance-type must be SageMaker types"),
        ("max_run_seconds", 0, "--max-run must be between 1 and 2419200"),
    ],
)
def test_bad_inputs_are_one_line(field: str, value: Any, message: str) -> None:
    with pytest.raises(iam.PolicyInputError, match=re.escape(message)):
        iam.PolicyInputs(**{**INPUTS.__dict__, field: value})


def test_every_wildcard_resource_is_an_action_without_resource_scope() -> None:
    on_star = {
        str(action).lower()
        for document in iam.render(INPUTS).values()
        for statement in iam_eval.statements(document)
        if "*" in iam_eval.as_list(statement.get("Resource"))
        for action in iam_eval.as_list(statement["Action"])
    }
    assert on_star <= WILDCARD_RESOURCE_ACTIONS


# --- the template holds the same documents ----------------------------------------------------------


def _resolve(node: Any, values: dict[str, Any]) -> Any:
    """Substitute the template's Ref, GetAtt and Sub for one deployment's values."""
    if isinstance(node, list):
        return [_resolve(n, values) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return values[node["Ref"]]
    if set(node) == {"Fn::GetAtt"}:
        return values[".".join(node["Fn::GetAtt"])]
    if set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(values[m.group(1)]), node["Fn::Sub"])
    return {k: _resolve(v, values) for k, v in node.items()}


def test_the_template_holds_the_rendered_policies() -> None:
    parsed, errors = decode_str((ROOT / "infra" / "titanic-sm.yaml").read_text())
    assert not errors
    resources = parsed["Resources"]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    values = {
        "AWS::Partition": "aws",
        "AWS::Region": INPUTS.region,
        "AWS::AccountId": ACCOUNT,
        "JobNamePrefix": INPUTS.prefix,
        "AllowedInstanceTypes": list(INPUTS.instance_types),
        "MaxRuntimeSeconds": str(INPUTS.max_run_seconds),
        "TrainingBucket.Arn": INPUTS.bucket_arn,
        "TrainingRepository.Arn": INPUTS.repository_arn,
        "ExecutionRole.Arn": role_arn,
    }
    rendered = iam.render(INPUTS)
    operator = _resolve(resources["OperatorPolicy"]["Properties"]["PolicyDocument"], values)
    role = resources["ExecutionRole"]["Properties"]
    (inline,) = role["Policies"]
    assert operator == rendered["operator-policy.json"]
    assert _resolve(inline["PolicyDocument"], values) == rendered["execution-role-policy.json"]
    assert _resolve(role["AssumeRolePolicyDocument"], values) == rendered["execution-role-trust.json"]


def test_the_dashboards_service_function_gives_the_json_of_each_document() -> None:
    from services.settings import Settings

    settings = Settings(
        bucket="course-bucket",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/service-role/{ROLE}",
        max_run_seconds=86400,
    )
    rendered = iam.rendered_for(settings, ACCOUNT)
    assert list(rendered) == list(iam.DOCUMENTS)
    assert (
        json.loads(rendered["operator-policy.json"])
        == iam.render(iam.PolicyInputs(**{**INPUTS.__dict__, "role_name": f"service-role/{ROLE}"}))[
            "operator-policy.json"
        ]
    )


# --- the CLI ----------------------------------------------------------------------------------------


def test_iam_render_writes_the_documents_from_flags(tmp_path: Path) -> None:
    out = tmp_path / "policies"
    result = CliRunner().invoke(
        app,
        [
            "iam",
            "render",
            "--account",
            ACCOUNT,
            "--region",
            "us-east-1",
            "--bucket",
            "course-bucket",
            "--prefix",
            "titanic",
            "--repo",
            "titanic-training",
            "--role-name",
            ROLE,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(iam.DOCUMENTS)
    # The limits not given as flags come from the settings: its instance type and max_run.
    expected = iam.PolicyInputs(**{**INPUTS.__dict__, "max_run_seconds": 3600})
    assert (
        json.loads((out / "operator-policy.json").read_text()) == iam.render(expected)["operator-policy.json"]
    )


def test_iam_render_refuses_a_bad_account_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["iam", "render", "--account", "12", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == "error: --account must be 12 digits, not '12'"
