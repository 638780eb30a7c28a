"""`titanic-sm config show|init`: the resolved settings with their origins, and a commented titanic-sm.toml.

``init`` can start from what the user's credentials reveal (``discover``): the account
(sts:GetCallerIdentity), the region of the session, and, for a bucket and repository the user
names, whether they exist and where. It never creates anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services import aws
from services.settings import CONFIG_FILE, Resolved, Settings

__all__ = ["COMMENTS", "Discovery", "discover", "render_toml", "show_json", "show_lines"]

# One comment per setting, written above it by `config init` (and shown nowhere else).
COMMENTS: dict[str, str] = {
    "target": '"local" (moto + Docker, no account) or "aws" (your account)',
    "region": "the region of the bucket, the repository and the jobs",
    "state_dir": "local stack state, the job store and caches",
    "runs_dir": "downloaded artifacts: runs/<job>/",
    "data_dir": "`titanic-sm data prepare` output",
    "bucket": "an existing bucket (yours or the course's), or one `run` creates",
    "prefix": "every object under s3://<bucket>/<prefix>/ (datasets/, jobs/, checkpoints/)",
    "repository": "the ECR repository of the training image (created if missing and allowed)",
    "role_arn": "the SageMaker execution role, e.g. one the console made: "
    "arn:aws:iam::ACCOUNT:role/service-role/AmazonSageMaker-ExecutionRole-YYYYMMDDTHHMMSS",
    "instance_type": "see `titanic-sm instances` for quota and price",
    "instance_count": "one instance is plenty for Titanic",
    "base_image": '"auto": the public python base if it can be pulled, else one built offline',
    "use_spot": "managed spot training (needs max_wait >= max_run)",
    "max_run_seconds": "MaxRuntimeInSeconds",
    "max_wait_seconds": "MaxWaitTimeInSeconds, spot only",
    "aws_profile": "a profile from ~/.aws/config; unset: the usual credential chain",
    "hyperparameters": "sent to the container as strings; unknown keys are refused at launch",
    "volume_size_gb": "the training volume (VolumeSizeInGB)",
    "base_job_name": "job names are <base>-YYYYMMDD-HHMMSS-xxxxxx; empty: the prefix",
    "tags": "tags on every training job, on top of the project's own",
    "network_isolation": "EnableNetworkIsolation: the container gets no network (it needs none)",
}
_TABLES = ("hyperparameters", "tags")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return value


def show_lines(resolved: Resolved) -> list[str]:
    """``name = value  (source)`` per setting; the config file first."""
    lines = [f"config file: {resolved.config_file or 'none (no ' + CONFIG_FILE + ' here)'}"]
    width = max(len(f.name) for f in fields(Settings))
    for name, value, source in resolved.rows():
        shown = json.dumps(_plain(value)) if value is not None else "(unset)"
        lines.append(f"{name:<{width}} = {shown}  [{source}]")
    return lines


def show_json(resolved: Resolved) -> str:
    return json.dumps(
        {
            "config_file": str(resolved.config_file) if resolved.config_file else None,
            "settings": {
                name: {"value": _plain(value), "source": source} for name, value, source in resolved.rows()
            },
        },
        indent=2,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


@dataclass(frozen=True)
class Discovery:
    """What the credentials revealed; ``notes`` say what could not be found."""

    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def discover(settings: Settings, bucket: str | None = None, repository: str | None = None) -> Discovery:
    """Account and region from the session; the named bucket's region; the repository's URI."""
    values: dict[str, Any] = {"region": settings.region}
    notes: list[str] = []
    try:
        identity = aws.client(settings, "sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        return Discovery(values, [f"no account: {' '.join(str(exc).split())}"])
    account = str(identity["Account"])
    notes.append(f"account {account} ({identity['Arn']})")
    if bucket:
        values["bucket"] = bucket
        try:
            location = aws.client(settings, "s3").get_bucket_location(Bucket=bucket).get("LocationConstraint")
            region = location or "us-east-1"
            notes.append(f"bucket {bucket} is in {region}")
            if region != settings.region:
                values["region"] = region
                notes.append(f"region set to {region}, the bucket's")
        except ClientError as exc:
            notes.append(f"bucket {bucket}: {exc.response.get('Error', {}).get('Code', exc)}")
    if repository:
        values["repository"] = repository
        try:
            found = aws.client(settings, "ecr").describe_repositories(repositoryNames=[repository])
            notes.append(f"repository {found['repositories'][0]['repositoryUri']}")
        except ClientError as exc:
            notes.append(f"repository {repository}: {exc.response.get('Error', {}).get('Code', exc)}")
    return Discovery(values, notes)


def render_toml(values: Mapping[str, Any], notes: list[str] | None = None) -> str:
    """A commented titanic-sm.toml: the given values set, every other setting commented out at its default."""
    defaults = Settings()
    header = [
        "# titanic-sm settings. Order: CLI flags > TITANIC_SM_* variables > this file > defaults.",
        "# `titanic-sm config show` prints every value and where it came from; `config check` tests them.",
    ]
    header += [f"# discovered: {note}" for note in notes or []]
    lines = [*header, ""]
    tables: list[str] = []
    for f in fields(Settings):
        name = f.name
        given = name in values and values[name] is not None
        value = values[name] if given else getattr(defaults, name)
        comment = f"# {COMMENTS.get(name, name)}"
        if name in _TABLES:
            table = [comment, f"[{name}]"]
            items = dict(value or {})
            table += [f"{k} = {_toml_value(v)}" for k, v in items.items()] or [
                '# key = "value"' if name == "tags" else '# num_leaves = "15"'
            ]
            tables += [*table, ""]
            continue
        if value is None:
            lines += [comment, f'# {name} = ""', ""]
            continue
        prefix = "" if given else "# "
        lines += [comment, f"{prefix}{name} = {_toml_value(_plain(value))}", ""]
    return "\n".join(lines + tables).rstrip() + "\n"
