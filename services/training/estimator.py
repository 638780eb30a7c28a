"""``sagemaker.estimator.Estimator`` for our own image: one code path for both targets.

Both build a ``sagemaker.Session`` and call ``Estimator(...).fit(inputs, wait=False)``, which
sends CreateTrainingJob; the worker then follows the job with DescribeTrainingJob. On aws the
session is the usual credential chain; on local its clients point at the local stack (the
training control plane for SageMaker's API, moto for the rest). ``default_bucket`` is given so
the SDK never creates a bucket of its own.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from container.contract import MAX_RUNTIME_LIMIT_SECONDS, TRAIN_CHANNEL
from container.hyperparameters import HyperparameterError, to_sagemaker
from container.metrics import METRIC_DEFINITIONS
from services import aws
from services.errors import UserError
from services.instance import instances
from services.settings import DEFAULT_MAX_RUN_SECONDS, Settings

__all__ = [
    "MAX_RUN_LIMIT_SECONDS",
    "TELEMETRY_OPT_OUT_CONFIG",
    "FitRequest",
    "JobShape",
    "TrainingError",
    "build_estimator",
    "check_channels",
    "check_image",
    "check_job",
    "checkpoint_uri",
    "job_name_for",
    "output_path",
    "sagemaker_session",
    "start_fit",
    "validate_request",
]

MAX_RUN_LIMIT_SECONDS = MAX_RUNTIME_LIMIT_SECONDS  # SageMaker's ceiling, declared in the contract
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The SDK's defaults config, inline: no telemetry calls to AWS hosts (they fail noisily offline).
TELEMETRY_OPT_OUT_CONFIG: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
_NAME_SUFFIX_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class TrainingError(UserError, RuntimeError):
    """The job cannot be started or failed; the message names the cause."""


class JobShape(Protocol):
    """What ``check_job`` reads of a request: a fit-time FitRequest, or a launch's JobRequest."""

    @property
    def job_name(self) -> str: ...
    @property
    def hyperparameters(self) -> Mapping[str, Any]: ...
    @property
    def instance_type(self) -> str: ...
    @property
    def use_spot(self) -> bool: ...
    @property
    def max_run_seconds(self) -> int: ...
    @property
    def max_wait_seconds(self) -> int | None: ...


@dataclass(frozen=True)
class FitRequest:
    """Everything one training job needs, decided before it starts (and stored with the job)."""

    job_name: str
    image_uri: str
    channels: Mapping[str, str]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    use_spot: bool = False
    max_run_seconds: int = DEFAULT_MAX_RUN_SECONDS
    max_wait_seconds: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def job_name_for(prefix: str = "titanic", now: datetime | None = None) -> str:
    """A unique, valid training job name: ``<prefix>-YYYYMMDD-HHMMSS-<6 of [0-9a-z]>``.

    Six base-36 characters (2e9 values; four hex digits collided once in 65,000 launches in the
    same second, and fifty names in a second about once in fifty) after a prefix of at most 40
    characters make at most the 63 characters SageMaker allows. Lowercase, as ARNs have it.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    clean = re.sub(r"[^a-zA-Z0-9-]+", "-", prefix).strip("-")[:40] or "job"
    suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(6))
    return f"{clean}-{stamp}-{suffix}"


def output_path(settings: Settings) -> str:
    """Where SageMaker writes ``<job>/output/model.tar.gz``."""
    return settings.s3_uri("jobs")


def checkpoint_uri(settings: Settings, job_name: str) -> str:
    """Per job: the SDK does not append the job name itself, and a shared prefix would make
    one job resume from another's checkpoint."""
    return settings.s3_uri("checkpoints", job_name)


def validate_request(settings: Settings, request: FitRequest) -> dict[str, str]:
    """Check what SageMaker would reject, before anything is created (moto checks nothing);
    return the hyperparameters as the strings the Estimator sends. The fit-time request: its image
    must be pinned by digest. A launch checks the same rules before its image exists
    (``launch.validate``), each where its value becomes known."""
    check_channels(request.channels)
    check_image(request.image_uri)
    return check_job(request)


def check_channels(channels: Mapping[str, str]) -> None:
    """A train channel, and every channel an S3 URI."""
    if TRAIN_CHANNEL not in channels:
        raise TrainingError("the train channel is missing", code="training.no_train_channel")
    for channel, uri in channels.items():
        if not uri.startswith("s3://"):
            raise TrainingError(
                f"{channel} channel must be an S3 URI, not {uri!r}",
                code="training.channel_not_s3",
                values={"channel": channel, "uri": uri},
            )


def check_image(image_uri: str) -> None:
    """The image a job trains is pinned by digest, so the job runs exactly what was built."""
    if "@sha256:" not in image_uri:
        raise TrainingError(
            f"the image must be pinned by digest (uri@sha256:...), not {image_uri!r}",
            code="training.image_not_pinned",
            values={"image": image_uri},
        )


def check_job(job: JobShape) -> dict[str, str]:
    """The rules for everything but the channels and the image: the name, the limits, spot's
    max_wait, the instance type and the hyperparameters (returned as the strings SageMaker gets)."""
    if not JOB_NAME_PATTERN.match(job.job_name):
        raise TrainingError(
            f"invalid job name {job.job_name!r}: 1-63 letters, digits and hyphens",
            code="training.bad_job_name",
            values={"name": job.job_name},
        )
    if not 1 <= job.max_run_seconds <= MAX_RUN_LIMIT_SECONDS:
        raise TrainingError(
            f"max_run must be between 1 and {MAX_RUN_LIMIT_SECONDS} s, not {job.max_run_seconds}",
            code="training.max_run_range",
            values={"limit": MAX_RUN_LIMIT_SECONDS, "value": job.max_run_seconds},
        )
    if job.use_spot:
        if job.max_wait_seconds is None:
            raise TrainingError(
                "spot training needs max_wait (seconds), at least max_run",
                code="training.spot_needs_max_wait",
            )
        if job.max_wait_seconds < job.max_run_seconds:
            raise TrainingError(
                f"max_wait ({job.max_wait_seconds} s) must be at least max_run ({job.max_run_seconds} s)",
                code="training.max_wait_below_max_run",
                values={"max_wait": job.max_wait_seconds, "max_run": job.max_run_seconds},
            )
    elif job.max_wait_seconds is not None:
        raise TrainingError(
            "max_wait applies only to spot training; turn spot on or leave max_wait empty",
            code="training.max_wait_without_spot",
        )
    if job.instance_type not in instances.training_instance_types():
        raise TrainingError(
            f"{job.instance_type!r} is not a SageMaker training instance type",
            code="training.unknown_instance_type",
            values={"instance_type": job.instance_type},
        )
    try:
        return to_sagemaker(job.hyperparameters)
    except HyperparameterError as exc:
        raise TrainingError(str(exc), code=exc.code, values=exc.values) from exc


def sagemaker_session(settings: Settings) -> Any:
    """A sagemaker.Session on the target's endpoints (the local stack's on local), telemetry off."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import sagemaker.session

    _check_config_schema_once()
    return sagemaker.session.Session(
        boto_session=aws.boto_session(settings),
        sagemaker_client=aws.client(settings, "sagemaker"),
        default_bucket=settings.bucket,
        sagemaker_config=TELEMETRY_OPT_OUT_CONFIG,
    )


def load_sdk() -> None:
    """Import the SDK and do what the first fit in a process would do besides (the config schema
    check, the experiments module ``fit`` imports): about 3.5 s of CPU, paid ahead by whoever
    waits for a job (the worker's preload thread, a standby)."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import sagemaker.estimator  # loaded for build_estimator
    import sagemaker.experiments  # noqa: F401 (Estimator.fit imports it at its first call)

    _check_config_schema_once()


_config_schema_checked = False


def _check_config_schema_once() -> None:
    """The SDK validates its defaults config at every config lookup (23 per launch) with
    ``jsonschema.validate``, which re-checks the SDK's large schema itself each time: 0.19 s of CPU
    a lookup, about 4 s a launch, most of the host's CPU for a run. This validator is built once
    from the same schema and raises what ``jsonschema.validate`` raises (the best-matching error),
    so every lookup still validates the config, without checking the schema again."""
    global _config_schema_checked
    if _config_schema_checked:
        return
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import jsonschema
    import sagemaker.session
    import sagemaker.utils
    from sagemaker.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA

    validator_class = jsonschema.validators.validator_for(SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)
    validator_class.check_schema(SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)
    validator = validator_class(SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)

    def validate_sagemaker_config(sagemaker_config: dict[str, Any] | None = None) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(sagemaker_config))
        if error is not None:
            raise error

    # The two modules that validate a Session's config imported the function by name.
    sagemaker.utils.validate_sagemaker_config = validate_sagemaker_config  # type: ignore[attr-defined]
    sagemaker.session.validate_sagemaker_config = validate_sagemaker_config  # type: ignore[attr-defined]
    _config_schema_checked = True


def build_estimator(settings: Settings, request: FitRequest, session: Any | None = None) -> Any:
    """The Estimator for ``request`` (validated first)."""
    hyperparameters = validate_request(settings, request)
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    from sagemaker.estimator import Estimator

    spot: dict[str, Any] = {}
    if request.use_spot:
        spot = {
            "use_spot_instances": True,
            "max_wait": request.max_wait_seconds,
            "checkpoint_s3_uri": checkpoint_uri(settings, request.job_name),
        }
    return Estimator(
        image_uri=request.image_uri,
        role=settings.role_arn,
        instance_count=request.instance_count,
        instance_type=request.instance_type,
        volume_size=settings.volume_size_gb,
        max_run=request.max_run_seconds,
        base_job_name=settings.job_name_base,
        # The trainer reads S3 channels SageMaker mounts and needs no network of its own.
        enable_network_isolation=settings.network_isolation,
        output_path=output_path(settings),
        # The SDK's annotations want dict[str, str | PipelineVariable]; ours are plain strings.
        hyperparameters=cast(dict[str, Any], hyperparameters),
        metric_definitions=cast(list[dict[str, Any]], METRIC_DEFINITIONS),
        # The user's tags, then the project's own (project, job id, target), which win.
        tags=[{"Key": k, "Value": v} for k, v in sorted({**settings.tags, **request.tags}.items())],
        # The Debugger profiler serves framework containers; ours would only pay for its rule jobs.
        disable_profiler=True,
        sagemaker_session=session if session is not None else sagemaker_session(settings),
        **spot,
    )


def start_fit(
    settings: Settings,
    request: FitRequest,
    session: Any | None = None,
    wait: bool = False,
    logs: bool = False,
) -> Any:
    """Build the Estimator and call ``fit``: CreateTrainingJob, returning at once unless ``wait``
    (then with the SDK's own log printing when ``logs``). Returns the estimator."""
    estimator = build_estimator(settings, request, session)
    started = time.time()
    try:
        estimator.fit(
            dict(request.channels), job_name=request.job_name, wait=wait, logs="All" if logs else "None"
        )
    except Exception as exc:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):  # SageMaker's refusal: its error code and message
            error = exc.response.get("Error", {})
            cause = f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
            raise TrainingError(
                f"SageMaker refused the job: {cause}", code="training.refused", values={"cause": cause}
            ) from exc
        raise TrainingError(_fit_failure(exc, time.time() - started)) from exc
    return estimator


def _fit_failure(exc: BaseException, elapsed: float) -> str:
    """One line: what went wrong in ``Estimator.fit`` other than SageMaker's refusal."""
    text = " ".join(str(exc).split())
    return text[:500] or f"{type(exc).__name__} after {elapsed:.0f} s"
