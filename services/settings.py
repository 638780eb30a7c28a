"""One settings object, built at the edge (CLI or app) and passed down.

Nothing here reads the environment at import time: ``Settings.from_env()`` is called by the
CLI and the app, once, and the result is handed to every service function.

Each value is resolved in this order: a CLI flag or the app, a ``TITANIC_SM_*`` variable, the
config file (``titanic-sm.toml`` in the working directory, ``TITANIC_SM_CONFIG`` or ``--config``),
then the default. ``Settings.resolve`` also says where each value came from (``config show``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from services.errors import UserError

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "DEFAULT_MAX_RUN_SECONDS",
    "DEFAULT_SEED",
    "DEFAULT_VALIDATION_FRACTION",
    "ENV_PREFIX",
    "LOCAL_ACCOUNT_ID",
    "Progress",
    "Resolved",
    "Settings",
    "SettingsError",
    "load_config_file",
]

ENV_PREFIX = "TITANIC_SM_"
# The config file read from the working directory, unless TITANIC_SM_CONFIG or --config names one.
CONFIG_FILE = "titanic-sm.toml"
CONFIG_ENV = "TITANIC_SM_CONFIG"
# moto's default account: every ARN on the local target carries it.
LOCAL_ACCOUNT_ID = "123456789012"

Target = Literal["local", "aws"]
# How a stage reports (stage, message) to whoever runs it: the CLI, the worker's log, a page.
Progress = Callable[[str, str], None]
# job_name_for adds -YYYYMMDD-HHMMSS-xxxxxx (23 characters) to at most 40.
_BASE_JOB_NAME = re.compile(r"[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,39}")
DEFAULT_MAX_JOB_COST_USD = 10.0
# The data split when no flag or page control says: the validation share and the split's seed.
DEFAULT_VALIDATION_FRACTION = 0.2
DEFAULT_SEED = 42
# MaxRuntimeInSeconds when neither a flag, the page nor the settings say (one hour).
DEFAULT_MAX_RUN_SECONDS = 3600
_NO_BUDGET = frozenset({"none", "off", "unlimited"})


class SettingsError(UserError, ValueError):
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
    max_run_seconds: int = DEFAULT_MAX_RUN_SECONDS
    max_wait_seconds: int | None = None
    aws_profile: str | None = None
    # Local stack: SIGTERM to SIGKILL when a job is stopped (SageMaker's 120 s; tests shorten it).
    local_stop_grace_seconds: int = 120
    # Local stack: the account's quota table, in Service Quotas' response shape (None: the shipped
    # sample quotas). The Instance page and the control plane read the same one.
    local_quotas_file: Path | None = None
    # A launch whose maximum cost (max_run, or spot max_wait, x price x count) is above this is
    # refused. "none" turns the guard off.
    max_job_cost_usd: float | None = DEFAULT_MAX_JOB_COST_USD
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    # The training volume (VolumeSizeInGB); Titanic needs well under 1 GB.
    volume_size_gb: int = 5
    # Job names are <base_job_name>-YYYYMMDD-HHMMSS-<6>; empty: the prefix. The execution role's
    # trust and the operator policy match arn:...:training-job/<base>-*.
    base_job_name: str = ""
    # Tags on every training job (on top of the project's own project/job-id/target tags).
    tags: Mapping[str, str] = field(default_factory=dict)
    # EnableNetworkIsolation: the container gets no network (our trainer needs none).
    network_isolation: bool = True
    # A launch hands its job to a worker that has already imported the SageMaker SDK (a standby,
    # about 3 s sooner to its first log line) and readies the next; false: a new worker each time.
    warm_worker: bool = True

    def __post_init__(self) -> None:
        for name in ("state_dir", "runs_dir", "data_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        if self.target not in ("local", "aws"):
            raise SettingsError(
                f"target ({ENV_PREFIX}TARGET) must be 'local' or 'aws', not {self.target!r}",
                code="settings.bad_target",
                values={"value": repr(self.target)},
            )
        for name in ("hyperparameters", "tags"):
            object.__setattr__(self, name, dict(getattr(self, name)))
        for name in (
            "instance_count",
            "max_run_seconds",
            "max_wait_seconds",
            "volume_size_gb",
            "local_stop_grace_seconds",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                variable = ENV_PREFIX + name.upper()
                raise SettingsError(
                    f"{name} ({variable}) must be at least 1, not {value}",
                    code="settings.below_one",
                    values={"name": name, "variable": variable, "value": value},
                )
        if self.base_job_name and not _BASE_JOB_NAME.fullmatch(self.base_job_name):
            raise SettingsError(
                f"base_job_name ({ENV_PREFIX}BASE_JOB_NAME) must be 1-40 letters, digits and inner "
                f"hyphens (the job name adds 23 characters; SageMaker allows 63), not {self.base_job_name!r}",
                code="settings.bad_base_job_name",
                values={"value": repr(self.base_job_name)},
            )
        for key, value in self.tags.items():
            if not 1 <= len(key) <= 128 or len(value) > 256 or key.lower().startswith("aws:"):
                raise SettingsError(
                    f"tag {key!r} ({ENV_PREFIX}TAGS): keys are 1-128 characters and may not start with "
                    "'aws:', values at most 256",
                    code="settings.bad_tag",
                    values={"key": repr(key)},
                )
        if self.max_job_cost_usd is not None and not self.max_job_cost_usd > 0:
            raise SettingsError(
                f"max_job_cost_usd ({ENV_PREFIX}MAX_JOB_COST_USD) must be above 0, "
                f"not {self.max_job_cost_usd}",
                code="settings.budget_not_positive",
                values={"value": self.max_job_cost_usd},
            )
        if self.target == "aws" and self.bucket == Settings.bucket:
            raise SettingsError(
                "target 'aws' needs a bucket: set TITANIC_SM_BUCKET", code="settings.aws_needs_bucket"
            )
        if self.target == "aws" and self.role_arn == Settings.role_arn:
            raise SettingsError(
                "target 'aws' needs an execution role: set TITANIC_SM_ROLE_ARN",
                code="settings.aws_needs_role",
            )

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def job_name_base(self) -> str:
        """What every job name starts with (before ``-YYYYMMDD-...``)."""
        return self.base_job_name or self.prefix

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

    def to_record(self) -> dict[str, Any]:
        """Every field as JSON-ready values, the folders absolute: what a job stores, so its worker
        (and a restart) runs with the very settings it was launched with (``from_record``)."""
        values = asdict(self)
        for name in _PATH_FIELDS:
            if values[name] is not None:
                values[name] = str(Path(values[name]).resolve())
        for name in _TABLE_FIELDS:
            values[name] = dict(values[name])
        return values

    @classmethod
    def from_record(cls, values: Mapping[str, Any]) -> Settings:
        """The settings ``to_record`` stored; fields this version does not know are left out."""
        known = {f.name for f in fields(cls)}
        record = {k: v for k, v in values.items() if k in known}
        if record.get("local_quotas_file") is not None:
            record["local_quotas_file"] = Path(record["local_quotas_file"])
        return cls(**record)

    def as_env(self) -> dict[str, str]:
        """``TITANIC_SM_*`` for every field but the tables: the environment a `titanic-sm` in another
        process (a `run` started by a test or a benchmark) rebuilds these settings from."""
        env: dict[str, str] = {}
        for name, value in self.to_record().items():
            if value is None or name in _TABLE_FIELDS:
                continue
            env[ENV_PREFIX + name.upper()] = (
                ("true" if value else "false") if isinstance(value, bool) else str(value)
            )
        return env

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, config: Path | str | None = None, **overrides: Any
    ) -> Settings:
        """Build from flags (``overrides``), ``TITANIC_SM_*`` variables and the config file."""
        return cls.resolve(environ, config, **overrides).settings

    @classmethod
    def resolve(
        cls, environ: Mapping[str, str] | None = None, config: Path | str | None = None, **overrides: Any
    ) -> Resolved:
        """The settings and, per field, where its value came from.

        The config file is ``config``, else ``TITANIC_SM_CONFIG``, else ``./titanic-sm.toml`` when it
        exists and ``environ`` is the process environment (an explicit ``environ`` reads no file
        unless one is named, so tests stay hermetic).
        """
        env = os.environ if environ is None else environ
        path = _config_path(env, config, look_in_cwd=environ is None)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {f.name: "default" for f in fields(cls)}
        if path is not None:
            for name, value in load_config_file(path).items():
                values[name] = value
                sources[name] = f"file {path}"
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            # An empty variable means "not set", as in most shells' `VAR= command`.
            if not raw:
                continue
            values[f.name] = _parse(f.name, raw)
            sources[f.name] = f"env {ENV_PREFIX}{f.name.upper()}"
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
                sources[name] = "flag"
        return Resolved(cls(**values), sources, path)


@dataclass(frozen=True)
class Resolved:
    """Settings with the origin of each value: ``flag``, ``env VAR``, ``file PATH`` or ``default``."""

    settings: Settings
    sources: Mapping[str, str]
    config_file: Path | None

    def rows(self) -> list[tuple[str, Any, str]]:
        """(field, value, source) for every field, in declaration order."""
        return [(f.name, getattr(self.settings, f.name), self.sources[f.name]) for f in fields(Settings)]


def _config_path(env: Mapping[str, str], config: Path | str | None, *, look_in_cwd: bool) -> Path | None:
    if config is not None:
        path = Path(config)
    elif env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    elif look_in_cwd and Path(CONFIG_FILE).is_file():
        return Path(CONFIG_FILE)
    else:
        return None
    if not path.exists():
        raise SettingsError(
            f"config file {path} does not exist", code="settings.no_config_file", values={"path": str(path)}
        )
    return path


_INT_FIELDS = (
    "instance_count",
    "max_run_seconds",
    "max_wait_seconds",
    "volume_size_gb",
    "local_stop_grace_seconds",
)
_PATH_FIELDS = ("state_dir", "runs_dir", "data_dir", "local_quotas_file")
_TABLE_FIELDS = ("hyperparameters", "tags")


def load_config_file(path: Path | str) -> dict[str, Any]:
    """The settings a TOML config file sets, typed; unknown keys and wrong types are one line."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"cannot read config file {path}: {exc.strerror or exc}",
            code="settings.config_unreadable",
            values={"path": str(path), "cause": str(exc.strerror or exc)},
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"config file {path} is not valid TOML: {exc}",
            code="settings.config_not_toml",
            values={"path": str(path), "cause": str(exc)},
        ) from None
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SettingsError(
            f"config file {path}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)} (keys are the settings' names, e.g. region, bucket)",
            code="settings.unknown_keys",
            values={
                "path": str(path),
                "s": "s" if len(unknown) > 1 else "",
                "keys": ", ".join(repr(k) for k in unknown),
            },
        )
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _typed(path, name, value)
    return values


def _typed(path: Path, name: str, value: Any) -> Any:
    default = next(f for f in fields(Settings) if f.name == name).default
    if name in _TABLE_FIELDS:
        if not isinstance(value, dict):
            raise SettingsError(
                f'config file {path}: {name} must be a table ([{name}] with key = "value" lines)',
                code="settings.file_not_table",
                values={"path": str(path), "name": name},
            )
        return {str(k): _scalar_text(v) for k, v in value.items()}
    if name in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(
                f"config file {path}: {name} must be a whole number, not {value!r}",
                code="settings.file_not_whole",
                values={"path": str(path), "name": name, "value": repr(value)},
            )
        return value
    if name == "max_job_cost_usd":
        if isinstance(value, str):
            return _parse_budget(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(
                f"config file {path}: {name} must be a number of US dollars (or 'none'), not {value!r}",
                code="settings.file_not_dollars",
                values={"path": str(path), "name": name, "value": repr(value)},
            )
        return float(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SettingsError(
                f"config file {path}: {name} must be true or false, not {value!r}",
                code="settings.file_not_boolean",
                values={"path": str(path), "name": name, "value": repr(value)},
            )
        return value
    if not isinstance(value, str):
        raise SettingsError(
            f"config file {path}: {name} must be a string, not {value!r}",
            code="settings.file_not_string",
            values={"path": str(path), "name": name, "value": repr(value)},
        )
    return Path(value) if name in _PATH_FIELDS else value


def _scalar_text(value: Any) -> str:
    # As the Estimator would send it, but true/false in JSON's spelling, which the container parses.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse(name: str, raw: str) -> Any:
    default = next(f for f in fields(Settings) if f.name == name).default
    if name in _TABLE_FIELDS:
        return _parse_pairs(name, raw)
    if name in _PATH_FIELDS:
        return Path(raw)
    if name in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            variable = ENV_PREFIX + name.upper()
            raise SettingsError(
                f"{variable} must be a whole number, not {raw!r}",
                code="settings.env_not_whole",
                values={"variable": variable, "value": repr(raw)},
            ) from None
    if name == "max_job_cost_usd":
        return _parse_budget(raw)
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        variable = ENV_PREFIX + name.upper()
        raise SettingsError(
            f"{variable} must be true or false, not {raw!r}",
            code="settings.env_not_boolean",
            values={"variable": variable, "value": repr(raw)},
        )
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
            f"{ENV_PREFIX}MAX_JOB_COST_USD must be a number of US dollars above 0 (or 'none'), not {raw!r}",
            code="settings.bad_budget",
            values={"value": repr(raw)},
        )
    return value


def _parse_pairs(name: str, raw: str) -> dict[str, str]:
    """``num_leaves=7,learning_rate=0.05`` → strings; the container's schema checks them at launch."""
    values: dict[str, str] = {}
    for pair in raw.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            variable = ENV_PREFIX + name.upper()
            raise SettingsError(
                f"{variable} must be KEY=VALUE pairs separated by commas, not {pair!r}",
                code="settings.bad_pairs",
                values={"variable": variable, "value": repr(pair)},
            )
        values[key.strip()] = value.strip()
    return values
