"""``titanic-sm jobs import JOB_NAME``: a training job run outside this project, brought into the
job store from DescribeTrainingJob so that its submission can be generated too.

Every stored value is one the response carries (or a plain reading of one: the region from the
job's ARN, the bucket from its output path, the repository from its image URI). What the
response cannot tell (the data version, why this instance, the cost estimated at launch, the
image's git revision) is listed in ``request["imported"]["unknown"]`` and shown as unknown,
never guessed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from services.errors import UserError
from services.jobs.store import Job, JobStore, Transition
from services.settings import Settings

__all__ = ["ALWAYS_UNKNOWN", "ImportJobError", "import_job", "job_values"]

# Nothing in DescribeTrainingJob says these.
ALWAYS_UNKNOWN = ("dataset_version", "instance_reason", "estimated_cost")

# SageMaker's secondary status -> the store's status for that point of the timeline.
_PRIMARY = {
    "Starting": "InProgress",
    "Pending": "Pending",
    "Downloading": "InProgress",
    "Training": "InProgress",
    "Uploading": "InProgress",
    "Restarting": "InProgress",
    "Interrupted": "InProgress",
    "Updating": "InProgress",
    "Completed": "Completed",
    "Failed": "Failed",
    "Stopping": "Stopping",
    "Stopped": "Stopped",
    "MaxRuntimeExceeded": "Stopped",
    "MaxWaitTimeExceeded": "Stopped",
}
# Our metric names (container/metrics.py) -> the store's headline columns.
_HEADLINE = {
    "validation:accuracy": "validation_accuracy",
    "validation:auc": "validation_auc",
    "cv:accuracy_mean": "cv_accuracy",
    "cv:auc_mean": "cv_auc",
}


class ImportJobError(UserError, RuntimeError):
    """The job cannot be described or recorded; one line naming it."""


def _stamp(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def _s3_bucket(uri: str | None) -> str | None:
    if not uri or not uri.startswith("s3://"):
        return None
    return uri[5:].split("/", 1)[0] or None


def _repository(image: str | None) -> str | None:
    if not image or "/" not in image:
        return None
    path = image.split("/", 1)[1]
    return path.split("@", 1)[0].rsplit(":", 1)[0] or None


def _region(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[3] or None if len(parts) > 3 else None


def job_values(described: Mapping[str, Any]) -> dict[str, Any]:
    """The store's fields from one DescribeTrainingJob response (None where it says nothing)."""
    algorithm = described.get("AlgorithmSpecification") or {}
    resource = described.get("ResourceConfig") or {}
    image = algorithm.get("TrainingImage")
    channels = {
        channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"]
        for channel in described.get("InputDataConfig") or []
        if (channel.get("DataSource") or {}).get("S3DataSource", {}).get("S3Uri")
    }
    final = {m["MetricName"]: float(m["Value"]) for m in described.get("FinalMetricDataList") or []}
    training = described.get("TrainingTimeInSeconds")
    billable = described.get("BillableTimeInSeconds")
    values: dict[str, Any] = {
        "secondary_status": described.get("SecondaryStatus"),
        "instance_type": resource.get("InstanceType"),
        "use_spot": bool(described.get("EnableManagedSpotTraining")),
        "image_uri": image,
        "channels": channels,
        "artifact_uri": (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        "hyperparameters": dict(described.get("HyperParameters") or {}),
        "metrics": {"final_metric_data": final} if final else {},
        "failure_reason": described.get("FailureReason"),
        "training_seconds": float(training) if training is not None else None,
        "billable_seconds": float(billable) if billable is not None else None,
        "spot_savings": (1.0 - float(billable) / float(training))
        if billable is not None and training
        else None,
        **{column: final.get(name) for name, column in _HEADLINE.items()},
    }
    return values


def _timeline(described: Mapping[str, Any]) -> list[Transition]:
    created = _stamp(described.get("CreationTime"))
    timeline = [Transition("Pending", None, "created (imported)", created)] if created is not None else []
    for step in described.get("SecondaryStatusTransitions") or []:
        at = _stamp(step.get("StartTime"))
        if at is None:
            continue
        secondary = step.get("Status")
        timeline.append(
            Transition(_PRIMARY.get(secondary, "InProgress"), secondary, step.get("StatusMessage"), at)
        )
    return timeline


def import_job(settings: Settings, job_name: str, sagemaker: Any | None = None, download: bool = True) -> Job:
    """Describe ``job_name`` and record it (target ``aws``); then, when it Completed, try to
    download and verify its ``model.tar.gz`` into ``runs/<job>/`` (a failure is recorded as a
    note, and the metrics stay unknown)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if sagemaker is None:
        from services import aws

        sagemaker = aws.client(settings, "sagemaker")
    try:
        described = sagemaker.describe_training_job(TrainingJobName=job_name)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        cause = f"{error.get('Code', '?')}: {error.get('Message', exc)}"
        raise ImportJobError(
            f"DescribeTrainingJob {job_name}: {cause}",
            code="import.describe_failed",
            values={"job": job_name, "cause": cause},
        ) from None
    except BotoCoreError as exc:
        raise ImportJobError(
            f"DescribeTrainingJob {job_name}: {exc}",
            code="import.describe_failed",
            values={"job": job_name, "cause": str(exc)},
        ) from None
    status = described.get("TrainingJobStatus")
    if status not in ("InProgress", "Completed", "Failed", "Stopping", "Stopped"):
        raise ImportJobError(
            f"DescribeTrainingJob {job_name} returned an unknown status {status!r}",
            code="import.unknown_status",
            values={"job": job_name, "status": repr(status)},
        )
    values = job_values(described)
    image = values["image_uri"]
    resources = {
        "region": _region(described.get("TrainingJobArn")),
        "bucket": _s3_bucket((described.get("OutputDataConfig") or {}).get("S3OutputPath")),
        "repository": _repository(image),
        "role_arn": described.get("RoleArn"),
        "instance_count": (described.get("ResourceConfig") or {}).get("InstanceCount"),
    }
    unknown = [*ALWAYS_UNKNOWN]
    unknown += [name for name, value in resources.items() if value is None]
    unknown += [
        name for name in ("artifact_uri", "billable_seconds", "training_seconds") if values[name] is None
    ]
    if image and "@sha256:" not in image:
        unknown.append("image_digest")
    if "metrics.json" not in unknown:
        unknown.append("metrics.json")
    imported = {
        "imported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "resources": resources,
        "unknown": unknown,
        "describe": json.loads(json.dumps(described, default=str)),
    }
    store = JobStore(settings.job_store_path)
    from services.jobs import store as job_store
    from services.jobs.store import JobStoreError

    if "training_job" in getattr(job_store, "_UPDATABLE", ()):
        # A store that keeps DescribeTrainingJob itself (as the worker records it) gets it here too.
        values["training_job"] = imported["describe"]

    created = _stamp(described.get("CreationTime")) or dt.datetime.now(dt.UTC).timestamp()
    try:
        job = store.record_external(
            target="aws",
            job_name=job_name,
            status=status,
            created_at=created,
            transitions=_timeline(described),
            request={"imported": imported},
            **values,
        )
    except JobStoreError as exc:
        raise ImportJobError(str(exc), code=exc.code, values=exc.values) from None
    if download and status == "Completed" and values["artifact_uri"]:
        job = _download(settings, store, job, imported)
    return job


def _download(settings: Settings, store: JobStore, job: Job, imported: dict[str, Any]) -> Job:
    from services.results import artifacts

    try:
        run = artifacts.download_run(
            settings,
            job.job_name,
            str(job.artifact_uri),
            None,
            summary={"target": job.target, "region": imported["resources"]["region"], "imported": True},
        )
    except Exception as exc:  # no such object, no access: the metrics stay unknown, and it is said why
        imported["download_error"] = " ".join(str(exc).split())[:300]
        return store.update(job.id, request={"imported": imported})
    imported["unknown"] = [name for name in imported["unknown"] if name != "metrics.json"]
    found = artifacts.headline_scores(run.metrics)
    # metrics.json wins where it has a score; FinalMetricDataList's stays where it has none.
    headline = {name: value if value is not None else getattr(job, name) for name, value in found.items()}
    return store.update(
        job.id,
        request={"imported": imported},
        metrics={
            **run.metrics,
            **(
                {"final_metric_data": job.metrics["final_metric_data"]}
                if job.metrics.get("final_metric_data")
                else {}
            ),
        },
        local_path=str(run.local_path),
        **headline,
    )
