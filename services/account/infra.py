"""`titanic-sm infra up|down|status`: infra/titanic-sm.yaml through boto3 CloudFormation.

On ``local`` the same calls go to moto's CloudFormation (services.aws points every client there);
on ``aws`` to the account, with the caller's own credentials (``iam render``'s infra-policy.json).
Progress is the stack's own events, printed as they arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from services import aws
from services.errors import InfrastructureError
from services.settings import Settings
from services.training.logs import LOG_GROUP

__all__ = ["TEMPLATE", "InfraError", "StackState", "down", "parameters_for", "status", "up"]

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "titanic-sm.yaml"
DEFAULT_STACK = "titanic-sm"
_DONE = ("_COMPLETE", "_FAILED")
_BAD = ("ROLLBACK", "FAILED")
_POLL_SECONDS = 2.0

Echo = Callable[[str], None]


class InfraError(InfrastructureError, RuntimeError):
    """The stack could not be deployed, deleted or read; the message names the cause."""


@dataclass(frozen=True)
class StackState:
    name: str
    status: str  # "NOT_DEPLOYED" when there is no such stack
    reason: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    resources: list[tuple[str, str, str]] = field(default_factory=list)  # logical id, type, status

    @property
    def environment(self) -> dict[str, str]:
        """The TITANIC_SM_* settings the stack's Environment output names."""
        pairs = self.outputs.get("Environment", "").split()
        return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def _cfn(settings: Settings) -> Any:
    return aws.client(settings, "cloudformation")


def _log_group_exists(settings: Settings) -> bool:
    groups = aws.client(settings, "logs").describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    return any(g["logGroupName"] == LOG_GROUP for g in groups)


def parameters_for(
    settings: Settings, *, create_log_group: bool | None = None, retention_days: int | None = None
) -> dict[str, str]:
    """The stack's parameters from the settings; the log group is created only where it is missing."""
    if create_log_group is None:
        create_log_group = not _log_group_exists(settings)
    values = {
        "BucketName": settings.bucket,
        "RepositoryName": settings.repository,
        "JobNamePrefix": settings.job_name_base,
        "CreateLogGroup": "true" if create_log_group else "false",
    }
    if retention_days is not None:
        values["LogRetentionDays"] = str(retention_days)
    return values


def _stack(cfn: Any, name: str) -> Mapping[str, Any] | None:
    try:
        return dict(cfn.describe_stacks(StackName=name)["Stacks"][0])
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def status(settings: Settings, stack_name: str = DEFAULT_STACK) -> StackState:
    cfn = _cfn(settings)
    try:
        stack = _stack(cfn, stack_name)
        if stack is None:
            return StackState(stack_name, "NOT_DEPLOYED")
        resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    except ClientError as exc:
        raise InfraError(
            f"cannot read stack {stack_name}: {_cause(exc)}",
            code="infra.cannot_read",
            values={"stack": stack_name, "cause": _cause(exc)},
        ) from None
    return StackState(
        stack_name,
        str(stack["StackStatus"]),
        str(stack.get("StackStatusReason", "")),
        {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        [
            (r.get("LogicalResourceId", "?"), r.get("ResourceType", "?"), r.get("ResourceStatus", "?"))
            for r in resources
        ],
    )


def up(
    settings: Settings,
    stack_name: str = DEFAULT_STACK,
    *,
    parameters: Mapping[str, str] | None = None,
    echo: Echo | None = None,
    timeout_seconds: float = 1800,
) -> StackState:
    """Create the stack, or update it when it exists; wait, printing its events; return its state."""
    from services.account.iam import STACK_NAME

    if not STACK_NAME.fullmatch(stack_name):
        raise InfraError(
            f"stack name must be 1-32 letters, digits and hyphens starting with a letter, not {stack_name!r}",
            code="infra.bad_name",
            values={"stack": repr(stack_name)},
        )
    cfn = _cfn(settings)
    values = dict(parameters) if parameters is not None else parameters_for(settings)
    request = {
        "StackName": stack_name,
        "TemplateBody": TEMPLATE.read_text(encoding="utf-8"),
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        "Tags": [{"Key": "project", "Value": "titanic-sm"}],
    }
    try:
        existing = _stack(cfn, stack_name)
        if existing is None:
            cfn.create_stack(**request)
            _say(echo, f"creating stack {stack_name} in {settings.region}")
        else:
            try:
                cfn.update_stack(**request)
            except ClientError as exc:
                if "No updates are to be performed" in str(exc):
                    _say(echo, f"stack {stack_name} is up to date")
                    return status(settings, stack_name)
                raise
            _say(echo, f"updating stack {stack_name} in {settings.region}")
    except ClientError as exc:
        raise InfraError(
            f"cannot deploy stack {stack_name}: {_cause(exc)}",
            code="infra.cannot_deploy",
            values={"stack": stack_name, "cause": _cause(exc)},
        ) from None
    final = _wait(cfn, stack_name, echo, timeout_seconds)
    if any(word in final for word in _BAD):
        cause = _first_failure(cfn, stack_name)
        raise InfraError(
            f"stack {stack_name} ended {final}: {cause}",
            code="infra.ended_badly",
            values={"stack": stack_name, "status": final, "cause": cause},
        )
    return status(settings, stack_name)


def down(
    settings: Settings,
    stack_name: str = DEFAULT_STACK,
    *,
    echo: Echo | None = None,
    timeout_seconds: float = 1800,
) -> StackState:
    """Delete the stack (the shared log group is retained: DeletionPolicy Retain) and wait."""
    cfn = _cfn(settings)
    try:
        if _stack(cfn, stack_name) is None:
            _say(echo, f"stack {stack_name} is not deployed")
            return StackState(stack_name, "NOT_DEPLOYED")
        cfn.delete_stack(StackName=stack_name)
    except ClientError as exc:
        raise InfraError(
            f"cannot delete stack {stack_name}: {_cause(exc)}",
            code="infra.cannot_delete",
            values={"stack": stack_name, "cause": _cause(exc)},
        ) from None
    _say(echo, f"deleting stack {stack_name}")
    final = _wait(cfn, stack_name, echo, timeout_seconds)
    if final.endswith("FAILED"):
        cause = _first_failure(cfn, stack_name)
        raise InfraError(
            f"stack {stack_name} ended {final}: {cause}",
            code="infra.ended_badly",
            values={"stack": stack_name, "status": final, "cause": cause},
        )
    return StackState(stack_name, "NOT_DEPLOYED" if final in ("DELETE_COMPLETE", "GONE") else final)


def _wait(cfn: Any, stack_name: str, echo: Echo | None, timeout_seconds: float) -> str:
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
            stack = _stack(cfn, stack_name)
        except ClientError as exc:
            if "does not exist" in str(exc):
                return "GONE"
            raise InfraError(
                f"cannot read stack {stack_name}: {_cause(exc)}",
                code="infra.cannot_read",
                values={"stack": stack_name, "cause": _cause(exc)},
            ) from None
        for event in reversed(events):  # the API lists newest first
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            _say(
                echo,
                f"{event['LogicalResourceId']:<22} {event['ResourceStatus']}"
                + (f": {reason}" if reason else ""),
            )
        if stack is None:
            return "GONE"
        current = str(stack["StackStatus"])
        if current.endswith(_DONE) and not current.endswith("_IN_PROGRESS"):
            return current
        if time.monotonic() > deadline:
            raise InfraError(
                f"stack {stack_name} still {current} after {timeout_seconds:.0f} s",
                code="infra.timed_out",
                values={"stack": stack_name, "status": current, "seconds": timeout_seconds},
            )
        time.sleep(_POLL_SECONDS)


def _first_failure(cfn: Any, stack_name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError:
        return "no events"
    failed = [e for e in reversed(events) if str(e["ResourceStatus"]).endswith("FAILED")]
    if not failed:
        return "see `titanic-sm infra status`"
    first = failed[0]
    return f"{first['LogicalResourceId']}: {first.get('ResourceStatusReason', first['ResourceStatus'])}"


def _cause(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {' '.join(str(error.get('Message', exc)).split())}"


def _say(echo: Echo | None, line: str) -> None:
    if echo is not None:
        echo(line)
