"""One settings object, built at the edge (CLI or app) and passed down.

Nothing here reads the environment at import time: ``Settings.from_env()`` is called by the
CLI and the app, once, and the result is handed to every service function.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["ENV_PREFIX", "LOCAL_ACCOUNT_ID", "Settings", "SettingsError"]

ENV_PREFIX = "TITANIC_SM_"
# moto's default account: every ARN on the local target carries it.
LOCAL_ACCOUNT_ID = "123456789012"

Target = Literal["local", "aws"]
DEFAULT_MAX_JOB_COST_USD = 10.0
_NO_BUDGET = frozenset({"none", "off", "unlimited"})


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Where jobs run and what they use. Every field can be set as ``TITANIC_SM_<FIELD>``."""

    target: Target = "local"
    region: str = "us-east-1"
    # Local stack state (ports, moto and registry data), the job store and caches live here.
    state_dir: Path = Path(".state")
    # Downloaded artifacts: runs/<job>/.
    runs_dir: Path = Path("runs")
    # `data prepare` output.
    data_dir: Path = Path("data/processed")
    bucket: str = "titanic-sm-local"
    prefix: str = "titanic"
    repository: str = "titanic-training"
    # Execution role for the training job. On local it only has to look like an ARN.
    role_arn: str = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/titanic-sm-execution"
    # The instance the job is priced and justified on. Local mode runs it as "local".
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    # "auto": the default base if it can be pulled, otherwise an offline Debian-built base.
    base_image: str = "auto"
    use_spot: bool = False
    max_run_seconds: int = 3600
    max_wait_seconds: int | None = None
    aws_profile: str | None = None
    # A launch whose maximum cost (max_run, or spot max_wait, x price x count) is above this is
    # refused. "none" turns the guard off.
    max_job_cost_usd: float | None = DEFAULT_MAX_JOB_COST_USD
    hyperparameters: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("state_dir", "runs_dir", "data_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        if self.target not in ("local", "aws"):
            raise SettingsError(f"target ({ENV_PREFIX}TARGET) must be 'local' or 'aws', not {self.target!r}")
        for name in ("instance_count", "max_run_seconds", "max_wait_seconds"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SettingsError(f"{name} ({ENV_PREFIX}{name.upper()}) must be at least 1, not {value}")
        if self.max_job_cost_usd is not None and not self.max_job_cost_usd > 0:
            raise SettingsError(
                f"max_job_cost_usd ({ENV_PREFIX}MAX_JOB_COST_USD) must be above 0, "
                f"not {self.max_job_cost_usd}"
            )
        if self.target == "aws" and self.bucket == Settings.bucket:
            raise SettingsError("target 'aws' needs a bucket: set TITANIC_SM_BUCKET")
        if self.target == "aws" and self.role_arn == Settings.role_arn:
            raise SettingsError("target 'aws' needs an execution role: set TITANIC_SM_ROLE_ARN")

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def job_store_path(self) -> Path:
        return self.state_dir / "jobs.sqlite3"

    @property
    def local_stack_dir(self) -> Path:
        return self.state_dir / "local-stack"

    def s3_uri(self, *parts: str) -> str:
        key = "/".join(p.strip("/") for p in (self.prefix, *parts) if p)
        return f"s3://{self.bucket}/{key}"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build from ``TITANIC_SM_*`` variables, then apply explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            # An empty variable means "not set", as in most shells' `VAR= command`.
            if not raw:
                continue
            values[f.name] = _parse(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse(name: str, raw: str) -> Any:
    default = next(f for f in fields(Settings) if f.name == name).default
    if name == "hyperparameters":
        return _parse_hyperparameters(raw)
    if name in ("state_dir", "runs_dir", "data_dir"):
        return Path(raw)
    if name in ("instance_count", "max_run_seconds", "max_wait_seconds"):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be a whole number, not {raw!r}") from None
    if name == "max_job_cost_usd":
        return _parse_budget(raw)
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}")
    return raw


def _parse_budget(raw: str) -> float | None:
    if raw.strip().lower() in _NO_BUDGET:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise SettingsError(
            f"{ENV_PREFIX}MAX_JOB_COST_USD must be a number of US dollars above 0 (or 'none'), not {raw!r}"
        )
    return value


def _parse_hyperparameters(raw: str) -> dict[str, str]:
    """``num_leaves=7,learning_rate=0.05`` → strings; the container's schema checks them at launch."""
    values: dict[str, str] = {}
    for pair in raw.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SettingsError(
                f"{ENV_PREFIX}HYPERPARAMETERS must be KEY=VALUE pairs separated by commas, not {pair!r}"
            )
        values[key.strip()] = value.strip()
    return values
