"""`titanic-sm clean`: remove what this project created, and only that, after listing it.

What counts as ours is what the job store recorded for this target: each job's output and
checkpoint prefixes (``<prefix>/jobs/<job>/``, ``<prefix>/checkpoints/<job>/``), the dataset
versions its jobs trained on (``<prefix>/datasets/<version>/``), the image digests they ran, and
(optionally) the repository once it holds nothing else, then the local state (``runs/<job>/`` and
the state folder). Keys outside those prefixes, images of other digests, and a repository that
still holds other images are never touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from services import aws
from services.data import storage
from services.errors import InfrastructureError
from services.jobs.store import Job, JobStore
from services.settings import Settings

__all__ = ["CleanError", "CleanPlan", "execute", "plan"]


class CleanError(InfrastructureError, RuntimeError):
    """Something listed could not be removed; the message names it and the cause."""


@dataclass
class CleanPlan:
    s3_keys: list[str] = field(default_factory=list)  # s3:// URIs
    image_digests: list[str] = field(default_factory=list)
    repository: str | None = None  # deleted after the images, only when then empty
    local_paths: list[Path] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # what was seen and deliberately left

    @property
    def empty(self) -> bool:
        return not (self.s3_keys or self.image_digests or self.repository or self.local_paths)

    def lines(self) -> list[str]:
        lines = [f"s3     {uri}" for uri in self.s3_keys]
        lines += [f"image  {digest}" for digest in self.image_digests]
        if self.repository:
            lines.append(f"repo   {self.repository} (only if nothing else is left in it)")
        lines += [f"local  {path}" for path in self.local_paths]
        return lines


def _our_jobs(settings: Settings) -> list[Job]:
    if not settings.job_store_path.exists():
        return []
    return [job for job in JobStore(settings.job_store_path).list() if job.target == settings.target]


def _digest_of(image_uri: str | None, repository: str) -> str | None:
    if not image_uri or "@sha256:" not in image_uri:
        return None
    name, _, digest = image_uri.partition("@")
    return digest if name.rsplit("/", 1)[-1] == repository or name.endswith(f"/{repository}") else None


def plan(settings: Settings, *, repository: bool = False, local_state: bool = True) -> CleanPlan:
    """What ``execute`` would remove, read from the job store and the account (removes nothing)."""
    result = CleanPlan()
    jobs = _our_jobs(settings)
    prefixes: list[str] = []
    for job in jobs:
        prefixes.append(settings.s3_uri("jobs", job.job_name) + "/")
        prefixes.append(settings.s3_uri("checkpoints", job.job_name) + "/")
    versions = sorted({job.dataset_version for job in jobs if job.dataset_version})
    prefixes += [settings.s3_uri(storage.DATASETS, version) + "/" for version in versions]
    try:
        for prefix in prefixes:
            result.s3_keys += [f"s3://{settings.bucket}/{key}" for key in storage.list_keys(settings, prefix)]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            prefix = f"{settings.prefix}/"
            raise CleanError(
                f"cannot list s3://{settings.bucket}/{prefix}: {_cause(exc)}",
                code="storage.cannot_list",
                values={"bucket": settings.bucket, "prefix": prefix, "cause": _cause(exc)},
            ) from None
    digests = sorted({d for job in jobs if (d := _digest_of(job.image_uri, settings.repository))})
    if digests:
        present = _present_digests(settings)
        result.image_digests = [d for d in digests if d in present]
    if repository:
        result.repository = settings.repository
    if local_state:
        runs = [settings.runs_dir / job.job_name for job in jobs]
        result.local_paths = [p for p in runs if p.exists()]
        if settings.state_dir.exists():
            result.local_paths.append(settings.state_dir)
    return result


def _present_digests(settings: Settings) -> set[str]:
    ecr = aws.client(settings, "ecr")
    try:
        pages = ecr.get_paginator("list_images").paginate(repositoryName=settings.repository)
        return {
            str(i["imageDigest"]) for page in pages for i in page.get("imageIds", []) if "imageDigest" in i
        }
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
            return set()
        raise CleanError(
            f"cannot list the images of {settings.repository}: {_cause(exc)}",
            code="clean.cannot_list_images",
            values={"repository": settings.repository, "cause": _cause(exc)},
        ) from None


def execute(settings: Settings, to_remove: CleanPlan, echo: Callable[[str], None] | None = None) -> list[str]:
    """Remove what ``to_remove`` lists, in order S3, images, repository, local; returns what was removed."""
    say = echo or (lambda _line: None)
    removed: list[str] = []
    if to_remove.s3_keys:
        s3 = aws.client(settings, "s3")
        keys = [storage.parse_s3_uri(uri)[1] for uri in to_remove.s3_keys]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = keys[start : start + 1000]
            try:
                answer = s3.delete_objects(
                    Bucket=settings.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except ClientError as exc:
                raise CleanError(
                    f"cannot delete from s3://{settings.bucket}: {_cause(exc)}",
                    code="clean.cannot_delete_objects",
                    values={"bucket": settings.bucket, "cause": _cause(exc)},
                ) from None
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise CleanError(
                    f"cannot delete s3://{settings.bucket}/{first['Key']}: {first.get('Code')}",
                    code="clean.cannot_delete_object",
                    values={"bucket": settings.bucket, "key": first["Key"], "cause": str(first.get("Code"))},
                )
            removed += [f"s3://{settings.bucket}/{k}" for k in batch]
        say(f"removed {len(keys)} objects from s3://{settings.bucket}/{settings.prefix}/")
    ecr: Any = None
    if to_remove.image_digests:
        ecr = aws.client(settings, "ecr")
        try:
            ecr.batch_delete_image(
                repositoryName=settings.repository,
                imageIds=[{"imageDigest": d} for d in to_remove.image_digests],
            )
        except ClientError as exc:
            raise CleanError(
                f"cannot delete images from {settings.repository}: {_cause(exc)}",
                code="clean.cannot_delete_images",
                values={"repository": settings.repository, "cause": _cause(exc)},
            ) from None
        removed += to_remove.image_digests
        say(f"removed {len(to_remove.image_digests)} images from {settings.repository}")
    if to_remove.repository:
        ecr = ecr or aws.client(settings, "ecr")
        try:
            # Without force: ECR refuses while any image is left, so nobody else's image goes with it.
            ecr.delete_repository(repositoryName=to_remove.repository)
            removed.append(to_remove.repository)
            say(f"removed repository {to_remove.repository}")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "RepositoryNotEmptyException":
                say(f"kept repository {to_remove.repository}: it holds images this project did not push")
            elif code != "RepositoryNotFoundException":
                raise CleanError(
                    f"cannot delete repository {to_remove.repository}: {_cause(exc)}",
                    code="clean.cannot_delete_repository",
                    values={"repository": to_remove.repository, "cause": _cause(exc)},
                ) from None
    if any(p == settings.state_dir for p in to_remove.local_paths) and settings.is_local:
        from services.local import stack as local_stack

        local_stack.stop(settings)  # its moto and registry live in the state folder
    for path in to_remove.local_paths:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
        say(f"removed {path}")
    return removed


def _cause(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
