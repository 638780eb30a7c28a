"""The Docker command line, called the same way on both targets.

The CLI (not the Python SDK) is used on purpose: `docker build --network host --platform ...`,
`docker login` and `docker push` then behave exactly as a user typing them would, credential
helpers and all, and a failure message is Docker's own, shortened to one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence

from services.errors import InfrastructureError

__all__ = [
    "DAEMON_DOWN",
    "DockerError",
    "docker",
    "docker_stream",
    "image_exists",
    "require_daemon",
    "server_arch",
]

DAEMON_DOWN = "the Docker daemon is not running: run `make docker`"
# Docker's legacy builder: the same on every client and daemon version here (no buildx plugin needed).
_BUILD_ENV = {"DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"}


class DockerError(InfrastructureError, RuntimeError):
    """A docker command failed; the message is one line naming the step and the cause."""


def _binary() -> str:
    path = shutil.which("docker")
    if path is None:
        raise DockerError(
            "the docker command is not installed: run `make docker`", code="docker.not_installed"
        )
    return path


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def docker(
    args: Sequence[str],
    *,
    what: str,
    timeout: float = 120,
    input_text: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS`` and capture its output; ``what`` names the step in any error."""
    try:
        result = subprocess.run(
            [_binary(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            env={**os.environ, **_BUILD_ENV},
        )
    except subprocess.TimeoutExpired:
        raise DockerError(
            f"{what} timed out after {timeout:.0f}s",
            code="docker.timed_out",
            values={"what": what, "seconds": timeout},
        ) from None
    if check and result.returncode != 0:
        cause = _last_line(result.stderr or result.stdout)
        if "Cannot connect to the Docker daemon" in cause:
            raise DockerError(DAEMON_DOWN, code="docker.daemon_down")
        raise DockerError(
            f"{what} failed: {cause}", code="docker.failed", values={"what": what, "cause": cause}
        )
    return result


def docker_stream(
    args: Sequence[str],
    *,
    what: str,
    on_line: Callable[[str], None] | None = None,
) -> list[str]:
    """Run a long docker command, handing each output line to ``on_line``; returns all lines."""
    process = subprocess.Popen(
        [_binary(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **_BUILD_ENV},
    )
    return _collect(process, what, on_line)


def _collect(process: subprocess.Popen[str], what: str, on_line: Callable[[str], None] | None) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    for raw in process.stdout:
        line = raw.rstrip()
        lines.append(line)
        if on_line is not None and line:
            on_line(line)
    if process.wait() != 0:
        cause = _last_line("\n".join(_without_noise(lines)))
        if "Cannot connect to the Docker daemon" in cause:
            raise DockerError(DAEMON_DOWN, code="docker.daemon_down")
        raise DockerError(
            f"{what} failed: {cause}", code="docker.failed", values={"what": what, "cause": cause}
        )
    return lines


def _without_noise(lines: Iterable[str]) -> list[str]:
    # The legacy builder's deprecation banner is not a cause.
    return [line for line in lines if "DEPRECATED" not in line and "BuildKit" not in line]


def require_daemon() -> None:
    """Raise one clear line when the daemon does not answer."""
    result = docker(["version", "--format", "{{.Server.Version}}"], what="docker version", check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise DockerError(DAEMON_DOWN, code="docker.daemon_down")


def server_arch() -> str:
    """The daemon's machine architecture as Docker reports it (x86_64, aarch64, ...)."""
    return docker(["info", "--format", "{{.Architecture}}"], what="docker info").stdout.strip()


def image_exists(ref: str) -> bool:
    return docker(["image", "inspect", ref], what="docker image inspect", check=False).returncode == 0
