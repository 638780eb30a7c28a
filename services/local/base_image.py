"""The base image the training image is built on: ``Settings.base_image = auto | <ref>``.

``auto`` uses the Dockerfile's default (ECR Public's python:3.12-slim) when it is present, then a
cached offline base, then tries to pull the default. Where nothing can be pulled, it builds an
equivalent Python base offline from the machine's own Debian mirror (debootstrap, then
``docker import``) and caches it under a tag derived from its inputs, so the next build reuses
it. Either way, the progress callback says plainly which base is used and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.docker_cli import DockerError, docker, image_exists
from services.errors import InfrastructureError
from services.messages import notice
from services.settings import Progress, Settings

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "OFFLINE_BASE_REPOSITORY",
    "BaseImage",
    "BaseImageError",
    "debian_mirror",
    "known_base_image",
    "offline_base_tag",
    "resolve_base_image",
]


# Must equal the `ARG BASE_IMAGE=` default in Dockerfile.training (a unit test checks it).
DEFAULT_BASE_IMAGE = "public.ecr.aws/docker/library/python:3.12-slim"
OFFLINE_BASE_REPOSITORY = "titanic-sm/python-base"
OFFLINE_SUITE = "bookworm"
OFFLINE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
VENV = "/opt/venv"
# Bump when the recipe below changes, so a cached base built by the old recipe is not reused.
RECIPE_VERSION = 1
# A pull with no route out must fail fast, never hang a build.
PULL_TIMEOUT_SECONDS = 25
DEBOOTSTRAP_TIMEOUT_SECONDS = 900

APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")
APT_SOURCES_LIST = Path("/etc/apt/sources.list")


class BaseImageError(InfrastructureError, RuntimeError):
    """The base image can neither be found, pulled nor built; the message says what to do."""


@dataclass(frozen=True)
class BaseImage:
    ref: str
    source: Literal["setting", "default-present", "default-pulled", "offline-cached", "offline-built"]
    seconds: float = 0.0


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress("base", message)


def resolve_base_image(settings: Settings, progress: Progress | None = None) -> BaseImage:
    """The base to build on, built offline when ``auto`` finds no pullable default."""
    choice = settings.base_image.strip()
    if choice != "auto":
        if not image_exists(choice) and not _try_pull(choice):
            raise BaseImageError(
                f"base image {choice!r} (TITANIC_SM_BASE_IMAGE) is neither present nor pullable",
                code="base_image.unavailable",
                values={"image": repr(choice)},
            )
        _say(progress, notice("progress.base.from_settings", image=choice))
        return BaseImage(choice, "setting")
    if image_exists(DEFAULT_BASE_IMAGE):
        _say(progress, notice("progress.base.present", image=DEFAULT_BASE_IMAGE))
        return BaseImage(DEFAULT_BASE_IMAGE, "default-present")
    try:
        mirror: str | None = debian_mirror()
    except BaseImageError as no_mirror:
        mirror, mirror_error = None, no_mirror  # fine as long as the default can be pulled
    tag = offline_base_tag(mirror) if mirror else None
    # Once built, the offline base is reused without trying the pull again (it may hang until timeout).
    if tag and image_exists(tag):
        _say(progress, notice("progress.base.cached_offline", tag=tag, image=DEFAULT_BASE_IMAGE))
        return BaseImage(tag, "offline-cached")
    _say(progress, notice("progress.base.pulling", image=DEFAULT_BASE_IMAGE, seconds=PULL_TIMEOUT_SECONDS))
    if _try_pull(DEFAULT_BASE_IMAGE):
        _say(progress, notice("progress.base.pulled", image=DEFAULT_BASE_IMAGE))
        return BaseImage(DEFAULT_BASE_IMAGE, "default-pulled")
    if mirror is None or tag is None:
        raise mirror_error
    _say(
        progress,
        notice(
            "progress.base.building_offline",
            image=DEFAULT_BASE_IMAGE,
            tag=tag,
            suite=OFFLINE_SUITE,
            mirror=mirror,
        ),
    )
    started = time.monotonic()
    build_offline_base(mirror, tag, progress)
    seconds = time.monotonic() - started
    _say(progress, notice("progress.base.built_offline", tag=tag, seconds=seconds))
    return BaseImage(tag, "offline-built", seconds)


def known_base_image(settings: Settings) -> str | None:
    """The base ``resolve_base_image`` would use, if it is already here; never pulls or builds."""
    choice = settings.base_image.strip()
    if choice != "auto":
        return choice if image_exists(choice) else None
    if image_exists(DEFAULT_BASE_IMAGE):
        return DEFAULT_BASE_IMAGE
    try:
        tag = offline_base_tag(debian_mirror())
    except BaseImageError:
        return None
    return tag if image_exists(tag) else None


def _try_pull(ref: str) -> bool:
    try:
        result = docker(
            ["pull", "--quiet", ref], what=f"docker pull {ref}", timeout=PULL_TIMEOUT_SECONDS, check=False
        )
    except DockerError:
        return False
    return result.returncode == 0


def debian_mirror(sources_dir: Path = APT_SOURCES_DIR, sources_list: Path = APT_SOURCES_LIST) -> str:
    """The Debian archive URI this machine's apt uses (deb822 ``*.sources`` first, then sources.list)."""
    candidates: list[tuple[str, str]] = []  # (uri, suites)
    for path in sorted(sources_dir.glob("*.sources")) if sources_dir.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            fields = _deb822_fields(stanza)
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    candidates.append((uri, fields.get("suites", "")))
    list_files = [sources_list, *(sorted(sources_dir.glob("*.list")) if sources_dir.is_dir() else [])]
    for path in list_files:
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                match = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if match:
                    candidates.append((match.group(1), match.group(2)))
    # The main archive, not -security or -updates: it is the one that carries the whole suite.
    for uri, suites in candidates:
        if uri.startswith(("http://", "https://")) and not re.search(r"security", uri) and suites:
            return uri.rstrip("/")
    raise BaseImageError(
        "no Debian mirror found in /etc/apt/sources.list(.d) to build the offline base: "
        "set TITANIC_SM_BASE_IMAGE to a Python image you have",
        code="base_image.no_mirror",
    )


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    return fields


def offline_base_tag(mirror: str, ca_bundle: Path = HOST_CA_BUNDLE) -> str:
    """A tag derived from every input of the offline base, so a changed input means a new base."""
    inputs = {
        "recipe": RECIPE_VERSION,
        "suite": OFFLINE_SUITE,
        "packages": OFFLINE_PACKAGES,
        "mirror": mirror,
        "ca_bundle": hashlib.sha256(ca_bundle.read_bytes()).hexdigest() if ca_bundle.is_file() else None,
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    return f"{OFFLINE_BASE_REPOSITORY}:{OFFLINE_SUITE}-{digest}"


def build_offline_base(mirror: str, tag: str, progress: Progress | None = None) -> None:
    """debootstrap a minimal Debian with Python, add a venv and the host CA, ``docker import`` it."""
    if os.geteuid() != 0:
        raise BaseImageError(
            "building the offline base needs root (debootstrap and chroot): "
            "run as root, or set TITANIC_SM_BASE_IMAGE to a Python image you have",
            code="base_image.needs_root",
        )
    for tool in ("debootstrap", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise BaseImageError(
                f"{tool} is not installed, needed for the offline base: run `make docker`",
                code="base_image.tool_missing",
                values={"tool": tool},
            )
    with tempfile.TemporaryDirectory(prefix="titanic-sm-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        _say(progress, f"debootstrap {OFFLINE_SUITE} ({', '.join(OFFLINE_PACKAGES)})")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(OFFLINE_PACKAGES)}",
                OFFLINE_SUITE,
                str(rootfs),
                mirror,
            ],
            "debootstrap",
        )
        # Behind a TLS-inspecting proxy pip and apt in the image need the host's CA bundle.
        if HOST_CA_BUNDLE.is_file():
            shutil.copyfile(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        _say(progress, notice("progress.base.venv", venv=VENV))
        _run(["chroot", str(rootfs), "python3", "-m", "venv", VENV], "python3 -m venv in the chroot")
        for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / leftovers).glob("*"):
                if entry.is_file():
                    entry.unlink()
        _say(progress, f"docker import {tag}")
        _import(rootfs, tag)


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BaseImageError(
            f"{what} timed out after {DEBOOTSTRAP_TIMEOUT_SECONDS:.0f}s",
            code="docker.timed_out",
            values={"what": what, "seconds": DEBOOTSTRAP_TIMEOUT_SECONDS},
        ) from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        cause = lines[-1] if lines else f"exit {result.returncode}"
        raise BaseImageError(
            f"{what} failed: {cause}", code="docker.failed", values={"what": what, "cause": cause}
        )


def _import(rootfs: Path, tag: str) -> None:
    changes = [
        f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
        f'LABEL org.opencontainers.image.description="offline Python base (Debian {OFFLINE_SUITE})"',
    ]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        args = ["docker", "import", *(f"--change={c}" for c in changes), "-", tag]
        imported = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True, timeout=600)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        cause = (imported.stderr.strip().splitlines() or ["tar failed"])[-1]
        raise BaseImageError(
            f"docker import of the offline base failed: {cause}",
            code="base_image.import_failed",
            values={"cause": cause},
        )
