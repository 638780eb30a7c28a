"""The wire protocol: SageMaker's awsJson1_1, and nothing else.

A request is ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` and a JSON body; a reply is
JSON, or HTTP 400 with ``{"__type": <code>, "message": ...}``, which botocore turns into a
``ClientError`` with that code. Field names are those of botocore's sagemaker service model;
timestamps are epoch seconds, as the protocol sends them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from services.local.control_plane.models import ApiError, TrainingJob

if TYPE_CHECKING:
    from services.local.control_plane.server import ControlPlane

__all__ = ["OPERATIONS", "TARGET_PREFIX", "describe_training_job", "dispatch", "error_body"]

TARGET_PREFIX = "SageMaker."
# Request fields a DescribeTrainingJob echoes back as they were sent.
_ECHOED = (
    "HyperParameters",
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "StoppingCondition",
    "CheckpointConfig",
    "DebugHookConfig",
    "ExperimentConfig",
    "DebugRuleConfigurations",
    "TensorBoardOutputConfig",
    "ProfilerConfig",
    "ProfilerRuleConfigurations",
    "Environment",
    "RetryStrategy",
    "RemoteDebugConfig",
    "InfraCheckConfig",
)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"__type": code, "message": message}


def describe_training_job(job: TrainingJob) -> dict[str, Any]:
    """DescribeTrainingJob's output for ``job``: only fields of botocore's shape, none empty."""
    request = job.request
    out: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "TrainingJobStatus": job.status,
        "SecondaryStatus": job.secondary_status,
        "CreationTime": job.created,
        "LastModifiedTime": job.last_modified,
        "SecondaryStatusTransitions": [dict(t) for t in job.transitions],
        "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
        "EnableInterContainerTrafficEncryption": bool(
            request.get("EnableInterContainerTrafficEncryption", False)
        ),
        "EnableManagedSpotTraining": job.spot,
        "ModelArtifacts": {"S3ModelArtifacts": job.model_artifacts} if job.model_artifacts else None,
        "FailureReason": job.failure_reason,
        "TrainingStartTime": job.training_start,
        "TrainingEndTime": job.training_end,
        "FinalMetricDataList": job.final_metrics or None,
        "ProfilingStatus": "Disabled",
    }
    out.update({key: request[key] for key in _ECHOED if request.get(key) is not None})
    out.setdefault("HyperParameters", {})
    if job.training_seconds is not None:
        out["TrainingTimeInSeconds"] = job.training_seconds
        out["BillableTimeInSeconds"] = job.billable_seconds
    return {key: value for key, value in out.items() if value is not None}


def _summary(job: TrainingJob) -> dict[str, Any]:
    out = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "CreationTime": job.created,
        "TrainingEndTime": job.training_end,
        "LastModifiedTime": job.last_modified,
        "TrainingJobStatus": job.status,
        "SecondaryStatus": job.secondary_status,
    }
    return {key: value for key, value in out.items() if value is not None}


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise ApiError("ValidationException", f"Invalid pagination token {token!r}") from None


def _max_results(body: Mapping[str, Any], default: int) -> int:
    value = body.get("MaxResults", default)
    if not isinstance(value, int) or not 1 <= value <= 100:
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: "
            "Member must have value between 1 and 100",
        )
    return value


def _page(items: list[Any], body: Mapping[str, Any], default: int) -> tuple[list[Any], str | None]:
    start = _offset(body.get("NextToken"))
    size = _max_results(body, default)
    page = items[start : start + size]
    return page, (_token(start + size) if start + size < len(items) else None)


def _create(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"TrainingJobArn": plane.create_training_job(body).arn}


def _describe(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, Any]:
    return describe_training_job(plane.describe_training_job(str(body.get("TrainingJobName", ""))))


def _list(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, Any]:
    sort_by = body.get("SortBy", "CreationTime")
    order = body.get("SortOrder", "Descending")
    if sort_by not in ("Name", "CreationTime", "Status") or order not in ("Ascending", "Descending"):
        raise ApiError("ValidationException", f"Invalid SortBy {sort_by!r} or SortOrder {order!r}")
    jobs = plane.list_training_jobs(
        name_contains=body.get("NameContains"),
        status=body.get("StatusEquals"),
        created_after=body.get("CreationTimeAfter"),
        created_before=body.get("CreationTimeBefore"),
        modified_after=body.get("LastModifiedTimeAfter"),
        modified_before=body.get("LastModifiedTimeBefore"),
    )
    keys: dict[str, Callable[[TrainingJob], Any]] = {
        "Name": lambda j: j.name,
        "CreationTime": lambda j: j.created,
        "Status": lambda j: (j.status, j.created),
    }
    jobs.sort(key=keys[sort_by], reverse=order == "Descending")
    page, token = _page(jobs, body, default=10)
    out: dict[str, Any] = {"TrainingJobSummaries": [_summary(job) for job in page]}
    if token:
        out["NextToken"] = token
    return out


def _stop(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, Any]:
    plane.stop_training_job(str(body.get("TrainingJobName", "")))
    return {}


def _add_tags(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"Tags": plane.add_tags(str(body.get("ResourceArn", "")), list(body.get("Tags") or []))}


def _list_tags(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, Any]:
    tags = plane.list_tags(str(body.get("ResourceArn", "")))
    page, token = _page(tags, body, default=50)
    return {"Tags": page, **({"NextToken": token} if token else {})}


def _delete_tags(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, Any]:
    plane.delete_tags(str(body.get("ResourceArn", "")), [str(k) for k in body.get("TagKeys") or []])
    return {}


OPERATIONS: dict[str, Callable[[ControlPlane, Mapping[str, Any]], dict[str, Any]]] = {
    "CreateTrainingJob": _create,
    "DescribeTrainingJob": _describe,
    "ListTrainingJobs": _list,
    "StopTrainingJob": _stop,
    "AddTags": _add_tags,
    "ListTags": _list_tags,
    "DeleteTags": _delete_tags,
}


def dispatch(plane: ControlPlane, target: str | None, raw_body: bytes) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for one request."""
    if not target or not target.startswith(TARGET_PREFIX):
        return 400, error_body(
            "UnknownOperationException",
            f"expected an X-Amz-Target header 'SageMaker.<Operation>', not {target!r}",
        )
    operation = target[len(TARGET_PREFIX) :]
    handler = OPERATIONS.get(operation)
    if handler is None:
        served = ", ".join(OPERATIONS)
        return 400, error_body(
            "UnknownOperationException",
            f"The local training control plane does not implement SageMaker.{operation}; it serves {served}",
        )
    try:
        body = json.loads(raw_body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
    except ValueError as exc:
        return 400, error_body("SerializationException", f"the request body is not JSON: {exc}")
    try:
        return 200, handler(plane, body)
    except ApiError as exc:
        return 400, error_body(exc.code, exc.message)
