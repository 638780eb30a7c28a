"""A small IAM evaluator for the project's own policies: explicit deny wins, else any matching allow.

It knows wildcard actions and resources and the condition operators our policies use (String*,
Arn*, Bool, Null, Numeric*, and the ForAllValues:/ForAnyValue: set forms). Context values may be
strings or lists (multi-valued keys such as sagemaker:InstanceTypes). moto checks neither
conditions nor resources outside S3, so the tests check those here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

Context = Mapping[str, Any]


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(s) for s in as_list(document["Statement"])]


def _one(operator: str, value: str, patterns: list[str]) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return value in patterns
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(value, p) for p in patterns)
    if operator == "Bool":
        return value.lower() in [p.lower() for p in patterns]
    if operator.startswith("Numeric"):
        compare = {
            "NumericEquals": float.__eq__,
            "NumericLessThan": float.__lt__,
            "NumericLessThanEquals": float.__le__,
            "NumericGreaterThan": float.__gt__,
            "NumericGreaterThanEquals": float.__ge__,
        }[operator]
        return any(compare(float(value), float(p)) for p in patterns)
    raise AssertionError(f"the evaluator does not know condition operator {operator}")


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            patterns = [str(p) for p in as_list(expected)]
            if operator == "Null":
                if (key not in context) != (patterns[0].lower() == "true"):
                    return False
                continue
            qualifier, _, base = operator.rpartition(":")
            if key not in context:
                if qualifier == "ForAllValues":
                    continue  # vacuously true: why policies pair it with a Null check
                return False
            values = [str(v) for v in as_list(context[key])]
            if qualifier == "ForAllValues":
                matched = all(_one(base, v, patterns) for v in values)
            elif qualifier == "ForAnyValue":
                matched = any(_one(base, v, patterns) for v in values)
            else:
                matched = len(values) == 1 and _one(base, values[0], patterns)
            if not matched:
                return False
    return True


def statement_matches(statement: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    actions = [a.lower() for a in as_list(statement["Action"])]
    if not any(fnmatch.fnmatchcase(action.lower(), a) for a in actions):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement.get("Resource", "*"))):
        return False
    return condition_holds(statement.get("Condition", {}), context)


def matching(
    document: Mapping[str, Any], action: str, resource: str, context: Context | None = None
) -> list[str]:
    """The Sids of the statements that match one request."""
    return [
        str(s.get("Sid", i))
        for i, s in enumerate(statements(document))
        if statement_matches(s, action, resource, context or {})
    ]


def allowed(document: Mapping[str, Any], action: str, resource: str, context: Context | None = None) -> bool:
    found = [s for s in statements(document) if statement_matches(s, action, resource, context or {})]
    return bool(found) and all(s["Effect"] == "Allow" for s in found)


# --- API calls as IAM sees them ------------------------------------------------------------------

# S3 operations authorised under another action name (AWS's S3 authorization table).
S3_ACTION_OF = {
    "HeadBucket": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeleteObjects": "DeleteObject",
}
# Need no permission at all.
UNAUTHORISED_CALLS = frozenset({"sts:GetCallerIdentity"})
SAGEMAKER = "sagemaker.amazonaws.com"


def requests_of(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    account: str,
    role_paths: Mapping[str, str] | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """The (action, resource, condition context) IAM evaluates for one API call; ``role_paths``
    gives a role's path (its ARN has it; a RoleName parameter does not)."""
    if service == "s3":
        key = params.get("Key")
        resource = f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key else "")
        if operation == "DeleteObjects":  # authorised per key
            return [
                ("s3:DeleteObject", f"arn:aws:s3:::{params['Bucket']}/{o['Key']}", {})
                for o in params["Delete"]["Objects"]
            ]
        context = {"s3:prefix": params["Prefix"]} if "Prefix" in params else {}
        return [(f"s3:{S3_ACTION_OF.get(operation, operation)}", resource, context)]
    if service == "sagemaker":
        name = params.get("TrainingJobName")
        # SageMaker lowercases job names in ARNs.
        resource = f"arn:aws:sagemaker:{region}:{account}:training-job/{name.lower()}" if name else "*"
        context: dict[str, Any] = {}
        if operation == "CreateTrainingJob":
            context = {
                "sagemaker:InstanceTypes": [params["ResourceConfig"]["InstanceType"]],
                "sagemaker:MaxRuntimeInSeconds": str(params["StoppingCondition"]["MaxRuntimeInSeconds"]),
            }
            if "EnableNetworkIsolation" in params:
                context["sagemaker:NetworkIsolation"] = str(params["EnableNetworkIsolation"]).lower()
        requests = [(f"sagemaker:{operation}", resource, context)]
        if operation == "CreateTrainingJob":
            requests.append(("iam:PassRole", params["RoleArn"], {"iam:PassedToService": SAGEMAKER}))
            if params.get("Tags"):
                requests.append(("sagemaker:AddTags", resource, {}))
        return requests
    if service == "logs":
        group = f"arn:aws:logs:{region}:{account}:log-group:{params['logGroupName']}"
        stream = params.get("logStreamName")
        return [(f"logs:{operation}", f"{group}:log-stream:{stream}" if stream else f"{group}:*", {})]
    if service == "ecr" and "repositoryName" in params:
        resource = f"arn:aws:ecr:{region}:{account}:repository/{params['repositoryName']}"
        return [(f"ecr:{operation}", resource, {})]
    if service == "ecr" and "repositoryNames" in params:
        return [
            (f"ecr:{operation}", f"arn:aws:ecr:{region}:{account}:repository/{name}", {})
            for name in params["repositoryNames"]
        ]
    if service == "iam" and "RoleName" in params:
        name = params["RoleName"]
        path = (role_paths or {}).get(name, "/")
        return [(f"iam:{operation}", f"arn:aws:iam::{account}:role{path}{name}", {})]
    return [(f"{service}:{operation}", "*", {})]
