"""What the submission says, gathered from the job's own record: the job store, ``run.json`` and
the artifacts it downloaded. Nothing here is typed by hand or guessed: a value the record lacks
is ``None`` and the document prints it as unknown.

The job store row is the first source (``Job``; its ``request`` holds the settings the launch
used, or, for an imported job, what DescribeTrainingJob said); ``runs/<job>/run.json`` and
``runs/<job>/model/metrics.json`` add what the download stage wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.jobs import Job, JobStore

__all__ = [
    "RESOURCE_FIELDS",
    "Facts",
    "gather",
    "job_resources",
    "run_manifest",
]

# The resources section, in the order: field name -> catalogue key of its label.
RESOURCE_FIELDS: tuple[str, ...] = (
    "region",
    "bucket",
    "repository",
    "image_uri",
    "job_name",
    "role_arn",
    "instance_type",
    "instance_count",
    "artifact_uri",
)


@dataclass(frozen=True)
class Facts:
    """Everything the document needs about one job."""

    job: Job
    resources: dict[str, str | None]
    imported: bool
    run: dict[str, Any]
    metrics: dict[str, Any]
    run_dir: Path | None
    unknown: tuple[str, ...] = ()
    earlier_failures: tuple[Job, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.job.target == "local"


def run_manifest(job: Job, runs_dir: Path) -> tuple[dict[str, Any], Path | None]:
    """``run.json`` of the job (from its recorded local path, else ``runs_dir/<job>``)."""
    for folder in (Path(job.local_path) if job.local_path else None, runs_dir / job.job_name):
        if folder is not None and (folder / "run.json").is_file():
            return json.loads((folder / "run.json").read_text(encoding="utf-8")), folder
    return {}, None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def job_resources(job: Job, run: dict[str, Any] | None = None) -> dict[str, str | None]:
    """The resources of the job as its record has them.

    A launched job's ``request["settings"]`` is the settings object the launch used; an
    imported job's ``request["imported"]["resources"]`` is what DescribeTrainingJob said.
    ``run.json`` only fills a value the job row lacks.
    """
    run = run or {}
    imported = job.request.get("imported") or {}
    recorded = dict(imported.get("resources") or job.request.get("settings") or {})
    # What SageMaker itself reported of the job, where the store keeps it, fills the rest.
    described: dict[str, Any] = dict(getattr(job, "training_job", None) or {})
    recorded.setdefault("role_arn", described.get("RoleArn"))
    recorded.setdefault("instance_count", (described.get("ResourceConfig") or {}).get("InstanceCount"))
    return {
        "region": _text(recorded.get("region") or run.get("region")),
        "bucket": _text(recorded.get("bucket") or run.get("bucket")),
        "repository": _text(recorded.get("repository") or run.get("repository")),
        "image_uri": _text(job.image_uri or run.get("image")),
        "job_name": job.job_name,
        "role_arn": _text(recorded.get("role_arn")),
        "instance_type": _text(job.instance_type or run.get("instance_type")),
        "instance_count": _text(recorded.get("instance_count")),
        "artifact_uri": _text(job.artifact_uri or run.get("artifact_uri")),
    }


def _metrics(job: Job, run: dict[str, Any], run_dir: Path | None) -> dict[str, Any]:
    if run_dir is not None and (run_dir / "model" / "metrics.json").is_file():
        loaded: dict[str, Any] = json.loads((run_dir / "model" / "metrics.json").read_text(encoding="utf-8"))
        return loaded
    return dict(run.get("metrics") or job.metrics or {})


def _earlier_failures(store: JobStore, job: Job) -> tuple[Job, ...]:
    """Failed jobs of the same data and target, after the last success before this one: what
    this job's attempt met before it succeeded."""
    history = store.list(targets=[job.target])
    earlier = sorted((j for j in history if j.created_at < job.created_at), key=lambda j: j.created_at)
    failures: list[Job] = []
    for other in earlier:
        if other.dataset_version != job.dataset_version:
            continue
        if other.status == "Completed":
            failures.clear()
        elif other.status == "Failed" and other.failure_reason:
            failures.append(other)
    return tuple(failures)


def gather(store: JobStore, job: Job, runs_dir: Path) -> Facts:
    """The facts of ``job``."""
    run, run_dir = run_manifest(job, runs_dir)
    imported = job.request.get("imported") or {}
    return Facts(
        job=job,
        resources=job_resources(job, run),
        imported=bool(imported),
        run=run,
        metrics=_metrics(job, run, run_dir),
        run_dir=run_dir,
        unknown=tuple(imported.get("unknown") or ()),
        earlier_failures=_earlier_failures(store, job),
        extra={"describe": imported.get("describe") or {}},
    )
