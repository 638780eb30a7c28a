"""The training image: build ``Dockerfile.training``, push it to ECR, pin it by digest.

One code path for both targets; only endpoints differ. On ``local`` the ECR *API* is moto and
ECR's image *store* is the local registry of the stack: the repository URI and the login
endpoint that ECR returns (``<account>.dkr.ecr.<region>.amazonaws.com``) are mapped onto that
registry, and the pushed manifest is recorded in moto's ECR too, so ``describe_images`` answers
on both targets.

Stages, reported through ``progress(stage, message)``:
``base`` (resolve or build the base), ``repository`` (ensure it), ``build``, ``login``, ``push``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services import aws
from services.docker_cli import (
    DockerError,
    docker,
    docker_stream,
    image_exists,
    require_daemon,
    server_arch,
)
from services.errors import InfrastructureError
from services.local.base_image import BaseImage, BaseImageError, known_base_image, resolve_base_image
from services.messages import notice
from services.settings import Progress, Settings

__all__ = [
    "DOCKERFILE",
    "KEEP_LAST_IMAGES",
    "LOCAL_IMAGE_REPOSITORY",
    "PLATFORM",
    "REVISION_LABEL",
    "ImageError",
    "ImageRef",
    "base_identity",
    "build_context_files",
    "context_tag",
    "current_image",
    "ensure_image",
    "ensure_repository",
    "image_labels",
    "lifecycle_policy",
    "login",
    "project_root",
    "prune_local_builds",
    "registry_host",
]


DOCKERFILE = "Dockerfile.training"
PLATFORM = "linux/amd64"  # SageMaker training hosts are x86_64
# The build's own name, never a registry: removing the pushed tags keeps the layers cached.
LOCAL_IMAGE_REPOSITORY = "titanic-sm/training"
KEEP_LAST_IMAGES = 10
# Local builds kept besides the current one, and the age below which none is pruned.
KEEP_LOCAL_BUILDS = 3
PRUNE_MIN_AGE_SECONDS = 24 * 3600
BUILD_CONTEXT_DIRS = ("container",)
# A lock file in the temp folder: the Docker daemon's builds are machine-wide, not per state dir.
BUILD_LOCK_NAME = "titanic-sm-docker-build.lock"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)


class ImageError(InfrastructureError, RuntimeError):
    """Building, logging in or pushing failed; one line naming the stage and the cause."""


@dataclass(frozen=True)
class ImageRef:
    repository_uri: str  # <registry>/<repository>: ECR on aws, 127.0.0.1:PORT/<repository> on local
    tag: str  # content-derived: the same build context gives the same tag
    digest: str  # sha256:... of the pushed manifest
    base_image: str = ""
    local_tag: str = ""  # the build's local name, kept so a rebuild is instant
    built: bool = False  # False when the tag was already in the registry
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"{self.repository_uri}:{self.tag}"

    @property
    def uri_with_digest(self) -> str:
        """The immutable reference a training job must use."""
        return f"{self.repository_uri}@{self.digest}"

    @property
    def registry(self) -> str:
        return self.repository_uri.split("/", 1)[0]


def _say(progress: Progress | None, stage: str, message: str) -> None:
    if progress is not None:
        progress(stage, message)


def project_root() -> Path:
    """The source checkout that holds Dockerfile.training and container/."""
    root = Path(__file__).resolve().parents[2]
    if not (root / DOCKERFILE).is_file():
        raise ImageError(
            f"{DOCKERFILE} not found in {root}: build from a source checkout",
            code="image.no_dockerfile",
            values={"file": DOCKERFILE, "folder": str(root)},
        )
    return root


def build_context_files(root: Path) -> list[Path]:
    """Exactly what .dockerignore lets into the context: Dockerfile.training and container/."""
    files = [root / DOCKERFILE]
    for folder in BUILD_CONTEXT_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.append(path)
    return files


def base_identity(base_ref: str) -> str:
    """The base's name and image id: a re-pulled or rebuilt base is a new base, even under one name."""
    image_id = docker(["image", "inspect", "--format", "{{.Id}}", base_ref], what="docker image inspect")
    return f"{base_ref}@{image_id.stdout.strip()}"


def context_tag(root: Path, base_image: str) -> str:
    """``ctx-<16 hex>``: a digest of every file in the build context and the base it builds on
    (pass ``base_identity(ref)``, so a changed base under the same name means a new image)."""
    digest = hashlib.sha256()
    digest.update(f"base={base_image}\nplatform={PLATFORM}\n".encode())
    for path in build_context_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return f"ctx-{digest.hexdigest()[:16]}"


def git_revision(root: Path) -> str:
    """The commit the image is built from, ``-dirty`` when the context differs from it."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", DOCKERFILE, *BUILD_CONTEXT_DIRS],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def lifecycle_policy(keep: int = KEEP_LAST_IMAGES) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the last {keep} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                }
            ]
        }
    )


def ensure_repository(settings: Settings, ecr: Any | None = None) -> str:
    """The ECR repository's URI, creating it (scan-on-push, immutable tags, lifecycle) if missing."""
    ecr = ecr or aws.client(settings, "ecr")
    existing = _repository_uri(ecr, settings.repository)
    if existing is not None:
        return existing
    try:
        created = ecr.create_repository(
            repositoryName=settings.repository,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"},
        )["repository"]
        ecr.put_lifecycle_policy(repositoryName=settings.repository, lifecyclePolicyText=lifecycle_policy())
    except ClientError as exc:
        raise ImageError(
            f"cannot create the ECR repository {settings.repository}: {_aws_cause(exc)}",
            code="image.cannot_create_repository",
            values={"repository": settings.repository, "cause": _aws_cause(exc)},
        ) from None
    return str(created["repositoryUri"])


def _repository_uri(ecr: Any, repository: str) -> str | None:
    try:
        found = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "RepositoryNotFoundException":
            return None
        raise ImageError(
            f"ECR describe_repositories failed: {_aws_cause(exc)}",
            code="image.ecr_call_failed",
            values={"call": "describe_repositories", "cause": _aws_cause(exc)},
        ) from None
    return str(found["repositoryUri"])


def _aws_cause(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', str(exc))}"


def registry_host(settings: Settings, ecr_uri_or_endpoint: str) -> str:
    """The registry that really stores ECR's images: ECR's own on aws, the stack's on local."""
    host = ecr_uri_or_endpoint.removeprefix("https://").split("/", 1)[0]
    if not settings.is_local:
        return host
    from services.local import stack as local_stack  # only the local target has one

    return local_stack.running_endpoints(settings).registry


def push_repository_uri(settings: Settings, ecr_repository_uri: str) -> str:
    """ECR's repository URI with its host mapped onto the registry that stores the bytes."""
    return f"{registry_host(settings, ecr_repository_uri)}/{ecr_repository_uri.split('/', 1)[1]}"


def _authorization(settings: Settings, ecr: Any) -> tuple[str, str, str]:
    from services.local.stack import ecr_authorization  # the one decoder of ECR's token

    user, password, endpoint = ecr_authorization(ecr)
    return user, password, registry_host(settings, endpoint)


def login(settings: Settings, ecr: Any | None = None) -> str:
    """``get_authorization_token`` then ``docker login``; returns the registry logged into."""
    ecr = ecr or aws.client(settings, "ecr")
    try:
        user, password, registry = _authorization(settings, ecr)
    except ClientError as exc:
        raise ImageError(
            f"ECR get_authorization_token failed: {_aws_cause(exc)}",
            code="image.ecr_call_failed",
            values={"call": "get_authorization_token", "cause": _aws_cause(exc)},
        ) from None
    result = docker(
        ["login", "--username", user, "--password-stdin", registry],
        what=f"docker login {registry}",
        input_text=password,
        check=False,
    )
    if result.returncode != 0:
        cause = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ImageError(
            f"docker login to {registry} was denied: {cause}",
            code="image.login_denied",
            values={"registry": registry, "cause": cause},
        )
    return registry


def require_amd64(base_image: str) -> None:
    """Refuse early when the daemon cannot run linux/amd64 (the Apple-Silicon exec-format trap)."""
    arch = server_arch()
    if arch in ("x86_64", "amd64"):
        return
    probe = docker(
        ["run", "--rm", "--platform", PLATFORM, "--entrypoint", "python", base_image, "-c", "pass"],
        what="amd64 probe",
        check=False,
        timeout=120,
    )
    if probe.returncode != 0:
        raise ImageError(
            f"the Docker daemon runs {arch} and cannot run {PLATFORM} images, which SageMaker needs: "
            "enable amd64 emulation (Docker Desktop: Rosetta or QEMU) or build on an x86_64 machine",
            code="image.not_amd64",
            values={"arch": arch, "platform": PLATFORM},
        )


def _version(root: Path) -> str:
    try:
        import tomllib

        return str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "0.0.0"


def build(
    root: Path, base: BaseImage, local_tag: str, progress: Progress | None = None, no_cache: bool = False
) -> float:
    """``docker build`` Dockerfile.training for linux/amd64 with the host network; returns seconds."""
    started = time.monotonic()
    args = [
        "build",
        *(["--no-cache"] if no_cache else []),
        "--network",
        "host",  # pip and apt in the build need the host's resolver (the bridge has none here)
        "--platform",
        PLATFORM,
        "--file",
        str(root / DOCKERFILE),
        "--build-arg",
        f"BASE_IMAGE={base.ref}",
        "--build-arg",
        f"VERSION={_version(root)}",
        "--build-arg",
        f"GIT_REVISION={git_revision(root)}",
        "--tag",
        local_tag,
        str(root),
    ]
    docker_stream(args, what="docker build", on_line=lambda line: _build_line(progress, line))
    return time.monotonic() - started


def _build_line(progress: Progress | None, line: str) -> None:
    if line.startswith(("Step ", "Successfully")):
        _say(progress, "build", line)


def _remote_digest(ecr: Any, repository: str, tag: str) -> str | None:
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return None
        raise ImageError(
            f"ECR describe_images failed: {_aws_cause(exc)}",
            code="image.ecr_call_failed",
            values={"call": "describe_images", "cause": _aws_cause(exc)},
        ) from None
    return str(found[0]["imageDigest"]) if found else None


def _registry_errors(exc: urllib.error.HTTPError) -> str:
    """The registry protocol's ``{"errors": [{"code", "message"}]}`` as one line (DENIED: ...)."""
    try:
        errors = json.loads(exc.read() or b"{}").get("errors") or []
        described = [f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors]
    except (ValueError, AttributeError, OSError):
        described = []
    return "; ".join(described) or exc.reason or "no detail"


def _local_manifest(
    settings: Settings, ecr: Any, repository_uri: str, reference: str
) -> tuple[str, str] | None:
    """On local: the manifest (body, media type) the registry stores, read with the ECR token."""
    user, password, _ = _authorization(settings, ecr)
    registry, _, repository = repository_uri.partition("/")
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{reference}",
        headers={
            "Accept": ", ".join(MANIFEST_TYPES),
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode(), response.headers.get("Content-Type", MANIFEST_TYPES[0])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise ImageError(
            f"the local registry {registry} answered {exc.code} for {repository}@{reference}: "
            f"{_registry_errors(exc)}",
            code="image.registry_refused",
            values={
                "registry": registry,
                "status": exc.code,
                "repository": repository,
                "reference": reference,
                "cause": _registry_errors(exc),
            },
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ImageError(
            f"the local registry {registry} is unreachable: {exc}",
            code="image.registry_unreachable",
            values={"registry": registry, "cause": str(exc)},
        ) from None


def _pushed_digest(push_uri: str, tag: str, push_lines: list[str]) -> str:
    for line in push_lines:  # "<tag>: digest: sha256:... size: 1234"
        if line.startswith(f"{tag}: digest: "):
            return line.split()[2]
    inspect = docker(
        ["image", "inspect", "--format", "{{json .RepoDigests}}", f"{push_uri}:{tag}"], what="inspect"
    )
    for entry in json.loads(inspect.stdout or "[]"):
        if entry.startswith(f"{push_uri}@"):
            return str(entry.split("@", 1)[1])
    raise ImageError(
        f"docker push of {push_uri}:{tag} reported no digest",
        code="image.no_digest",
        values={"image": push_uri, "tag": tag},
    )


def _record_in_moto_ecr(settings: Settings, ecr: Any, repository_uri: str, tag: str, digest: str) -> None:
    """On local: copy the pushed manifest into moto's ECR, so describe_images sees the push."""
    found = _local_manifest(settings, ecr, repository_uri, digest)
    if found is None:
        raise ImageError(
            f"the local registry lost {repository_uri}@{digest} right after the push",
            code="image.registry_lost",
            values={"image": repository_uri, "digest": digest},
        )
    manifest, media_type = found
    ecr.put_image(
        repositoryName=settings.repository,
        imageManifest=manifest,
        imageManifestMediaType=media_type,
        imageTag=tag,
        imageDigest=digest,
    )


@contextlib.contextmanager
def _one_builder_at_a_time(settings: Settings, progress: Progress | None) -> Iterator[None]:
    """Two launches at once (two tabs, two workers) build and push once, not twice."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / "image.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(progress, "build", notice("progress.image.other_builder"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _one_build_per_daemon(progress: Progress | None) -> Iterator[None]:
    """Local build tags are the Docker daemon's, shared by every state dir on this machine: one
    build (and prune) at a time, so two stacks building one context build it once, and a prune
    never untags a build that another is about to tag and push."""
    path = Path(tempfile.gettempdir()) / BUILD_LOCK_NAME
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(progress, "build", notice("progress.image.other_daemon_build", lock=path))
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_image(settings: Settings, progress: Progress | None = None, root: Path | None = None) -> ImageRef:
    """Build (if this content is not built yet), push (if not pushed yet) and pin by digest."""
    with _one_builder_at_a_time(settings, progress):
        return _ensure_image(settings, progress, root or project_root())


def _ensure_image(settings: Settings, progress: Progress | None, root: Path) -> ImageRef:
    seconds: dict[str, float] = {}
    try:
        require_daemon()
        started = time.monotonic()
        base = resolve_base_image(settings, progress)
        seconds["base"] = time.monotonic() - started
        tag = context_tag(root, base_identity(base.ref))
        local_tag = f"{LOCAL_IMAGE_REPOSITORY}:{tag}"

        started = time.monotonic()
        ecr = aws.client(settings, "ecr")
        ecr_repository_uri = ensure_repository(settings, ecr)
        repository_uri = push_repository_uri(settings, ecr_repository_uri)
        seconds["repository"] = time.monotonic() - started
        _say(
            progress,
            "repository",
            notice("progress.image.repository", repository=ecr_repository_uri, images=repository_uri),
        )

        remote = _remote_digest(ecr, settings.repository, tag)
        # On local, moto forgets on restart while the registry keeps its data: check both agree.
        if remote and (not settings.is_local or _local_manifest(settings, ecr, repository_uri, remote)):
            _say(
                progress,
                "push",
                notice("progress.image.already_pushed", image=f"{repository_uri}:{tag}", digest=remote),
            )
            return ImageRef(repository_uri, tag, remote, base.ref, local_tag, False, seconds)

        built = False
        with _one_build_per_daemon(progress):
            if image_exists(local_tag):
                _say(progress, "build", notice("progress.image.already_built", tag=local_tag))
            else:
                require_amd64(base.ref)
                _say(
                    progress,
                    "build",
                    notice("progress.image.building", tag=local_tag, base=base.ref, platform=PLATFORM),
                )
                seconds["build"] = build(root, base, local_tag, progress)
                built = True
                _say(
                    progress, "build", notice("progress.image.built", tag=local_tag, seconds=seconds["build"])
                )
                pruned = prune_local_builds()
                if pruned:
                    _say(progress, "build", notice("progress.image.pruned", count=len(pruned)))

        started = time.monotonic()
        registry = login(settings, ecr)
        seconds["login"] = time.monotonic() - started
        _say(progress, "login", notice("progress.image.logged_in", registry=registry))

        started = time.monotonic()
        push_uri = f"{repository_uri}:{tag}"
        docker(["tag", local_tag, push_uri], what="docker tag")
        _say(progress, "push", notice("progress.image.pushing", image=push_uri))
        try:
            lines = docker_stream(["push", push_uri], what=f"docker push {push_uri}")
        except DockerError as exc:
            if str(exc).endswith("denied"):
                raise ImageError(
                    f"the push to {repository_uri} was denied or failed: {exc} (the registry refused this "
                    "caller: on aws it needs the ECR push actions of the operator policy in "
                    "infra/titanic-sm.yaml)",
                    code="image.push_denied",
                    values={"image": repository_uri, "cause": str(exc)},
                ) from None
            raise ImageError(
                f"the push to {repository_uri} was denied or failed: {exc}",
                code="image.push_failed",
                values={"image": repository_uri, "cause": str(exc)},
            ) from None
        digest = _pushed_digest(repository_uri, tag, lines)
        if settings.is_local:
            _record_in_moto_ecr(settings, ecr, repository_uri, tag, digest)
        seconds["push"] = time.monotonic() - started
        _say(
            progress,
            "push",
            notice("progress.image.pushed", image=f"{repository_uri}@{digest}", seconds=seconds["push"]),
        )
        return ImageRef(repository_uri, tag, digest, base.ref, local_tag, built, seconds)
    except (DockerError, BaseImageError) as exc:
        raise ImageError(str(exc), code=exc.code, values=exc.values) from None
    except ClientError as exc:
        raise ImageError(
            f"ECR refused a call: {_aws_cause(exc)}",
            code="image.ecr_refused",
            values={"cause": _aws_cause(exc)},
        ) from None
    except BotoCoreError as exc:  # no credentials, no endpoint: the AWS side cannot be reached
        raise ImageError(
            f"ECR is unreachable: {exc}", code="image.ecr_unreachable", values={"cause": str(exc)}
        ) from None


def current_image(settings: Settings, root: Path | None = None) -> ImageRef | None:
    """The pushed image for the current build context, or None if it needs building or pushing.
    Cheap (no build, no pull): for status displays such as the dashboard's Train page."""
    root = root or project_root()
    try:
        base = known_base_image(settings)
        if base is None:
            return None
        tag = context_tag(root, base_identity(base))
        ecr = aws.client(settings, "ecr")
        ecr_repository_uri = _repository_uri(ecr, settings.repository)
        if ecr_repository_uri is None:
            return None
        repository_uri = push_repository_uri(settings, ecr_repository_uri)
        digest = _remote_digest(ecr, settings.repository, tag)
    except (DockerError, BaseImageError) as exc:
        raise ImageError(str(exc), code=exc.code, values=exc.values) from None
    except (ClientError, BotoCoreError) as exc:
        raise ImageError(
            f"ECR cannot be read: {exc}", code="image.ecr_unreadable", values={"cause": str(exc)}
        ) from None
    if digest is None or (settings.is_local and not _local_manifest(settings, ecr, repository_uri, digest)):
        return None
    return ImageRef(repository_uri, tag, digest, base, f"{LOCAL_IMAGE_REPOSITORY}:{tag}", False)


def prune_local_builds(
    keep: int = KEEP_LOCAL_BUILDS,
    min_age_seconds: float = PRUNE_MIN_AGE_SECONDS,
    now: float | None = None,
    repository: str = LOCAL_IMAGE_REPOSITORY,
) -> list[str]:
    """Untag old local builds (each content change leaves one): all but the newest ``keep``, and
    only those older than ``min_age_seconds``, so a build another session still uses survives.
    Docker keeps any image a container uses. Returns the tags removed."""
    listed = docker(
        [
            "images",
            "--filter",
            f"reference={repository}:ctx-*",
            "--format",
            "{{.Repository}}:{{.Tag}}\t{{.CreatedAt}}",
        ],
        what="docker images",
    )
    builds: list[tuple[float, str]] = []
    for line in listed.stdout.splitlines():
        name, _, created = line.partition("\t")
        try:  # "2026-11-26 06:33:20 +0000 UTC"
            stamp = datetime.strptime(created[:25], "%Y-%m-%d %H:%M:%S %z").timestamp()
        except ValueError:
            continue  # an unreadable date: leave that build alone
        builds.append((stamp, name))
    builds.sort(reverse=True)
    cutoff = (time.time() if now is None else now) - min_age_seconds
    removed = []
    for stamp, name in builds[keep:]:
        if (
            stamp < cutoff
            and docker(["image", "rm", name], what="docker image rm", check=False).returncode == 0
        ):
            removed.append(name)
    return removed


REVISION_LABEL = "org.opencontainers.image.revision"


def image_labels(settings: Settings, image_uri: str) -> dict[str, str] | None:
    """The labels of a pushed image (``repo@sha256:...``), e.g. its git revision: from the local
    Docker when it holds the image, otherwise from the image's config blob in the registry (the
    stack's registry on local, ECR on aws). None when neither can say."""
    found = docker(
        ["image", "inspect", "--format", "{{json .Config.Labels}}", image_uri], what="inspect", check=False
    )
    if found.returncode == 0:
        return dict(json.loads(found.stdout or "null") or {})
    repository_uri, _, digest = image_uri.partition("@")
    if not digest:
        return None
    # The same manifest under another registry address (a restarted local stack has a new port).
    listed = docker(
        ["images", "--digests", "--format", "{{.Digest}} {{.ID}}"], what="docker images", check=False
    )
    for line in listed.stdout.splitlines():
        seen, _, image_id = line.partition(" ")
        if seen == digest and image_id:
            again = docker(
                ["image", "inspect", "--format", "{{json .Config.Labels}}", image_id],
                what="inspect",
                check=False,
            )
            if again.returncode == 0:
                return dict(json.loads(again.stdout or "null") or {})
    if settings.is_local:
        from services.local import stack as local_stack

        # Reading a label never starts the stack: a stack that is down has no registry to ask.
        if not all(service.healthy for service in local_stack.status(settings)):
            return None
    try:
        ecr = aws.client(settings, "ecr")
        if settings.is_local:
            manifest = _local_manifest(settings, ecr, repository_uri, digest)
            if manifest is None:
                return None
            config_digest = json.loads(manifest[0])["config"]["digest"]
            user, password, _ = _authorization(settings, ecr)
            registry, _, repository = repository_uri.partition("/")
            request = urllib.request.Request(
                f"http://{registry}/v2/{repository}/blobs/{config_digest}",
                headers={
                    "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                },
            )
        else:
            repository = repository_uri.partition("/")[2]
            images = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
            if not images.get("images"):
                return None
            config_digest = json.loads(images["images"][0]["imageManifest"])["config"]["digest"]
            url = ecr.get_download_url_for_layer(repositoryName=repository, layerDigest=config_digest)
            request = urllib.request.Request(url["downloadUrl"])
        with urllib.request.urlopen(request, timeout=20) as response:
            config = json.loads(response.read())
    except (ClientError, BotoCoreError, ImageError, urllib.error.URLError, OSError, ValueError, KeyError):
        return None
    return dict((config.get("config") or {}).get("Labels") or {})


def image_config(ref: str) -> dict[str, Any]:
    """``docker image inspect`` of one image, for tests and `make bench-image`."""
    result = docker(["image", "inspect", ref], what="docker image inspect")
    return dict(json.loads(result.stdout)[0])
