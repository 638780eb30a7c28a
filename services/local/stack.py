"""The local stack: moto (S3, ECR API, STS, IAM, CloudWatch, CloudWatch Logs), a Docker registry
(ECR's image store) and the training control plane (SageMaker's training-job API, running jobs in
Docker: ``services.local.control_plane``), all on 127.0.0.1, all detached so they outlive the CLI
call, the app run or the worker that started them.

Nothing is lost across ``down``/``up``: the registry and the control plane keep their state on
disk, and moto (which keeps none) runs with its own request recorder on; each start compacts the
recording to the requests that changed state and replays it (``_replay_moto``).

Everything lives under ``settings.local_stack_dir``: one ``stack.json`` with each service's pid
and port, the registry's config and storage, and each service's log. ``ensure_running`` is
idempotent and starts only what is missing; a recorded pid that is gone, or now belongs to
another program, is detected as stale and replaced.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.errors import InfrastructureError
from services.local import moto_ecr
from services.local import recording as recording_module
from services.processes import pid_alive
from services.settings import Settings

__all__ = [
    "LOCAL_CREDENTIALS",
    "SERVICES",
    "LocalStackError",
    "ServiceStatus",
    "StackEndpoints",
    "client_environment",
    "ecr_authorization",
    "ecr_login_secret",
    "ensure_running",
    "is_running",
    "registry_command",
    "registry_credentials",
    "running_endpoints",
    "status",
    "stop",
]

HOST = "127.0.0.1"
STATE_FILE = "stack.json"
LOCK_FILE = ".lock"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0
MOTO = "moto"
REGISTRY = "registry"
CONTROL_PLANE = "control-plane"
# In start order: moto's ECR hands out the registry's login; the control plane uses both.
SERVICES = (MOTO, REGISTRY, CONTROL_PLANE)
# moto runs behind this entry point, so its GetAuthorizationToken gives the stack's own login.
MOTO_MODULE = "services.local.moto_ecr"
# How each service's process names itself in /proc/<pid>/cmdline (stale-pid detection); moto's
# plain server is still recognised, so a stack started before the per-stack login is replaced.
_CMDLINE_MARKERS = {
    MOTO: ("moto.server", MOTO_MODULE),
    REGISTRY: ("docker-registry",),
    CONTROL_PLANE: ("services.local.control_plane",),
}
# The registry's login (user and a random password), created once per stack, mode 0600.
REGISTRY_CREDENTIALS_FILE = "registry-credentials.json"
REGISTRY_USER = "AWS"  # ECR's user name for `docker login`
MOTO_RECORDING = "moto-recording.jsonl"
# moto accepts any key; fixed values keep SigV4 signatures and presigned URLs reproducible.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CONTROL_PLANE_DIR = "control-plane"


class LocalStackError(InfrastructureError, RuntimeError):
    """A local service cannot be started or reached; the message names it and the cause."""


@dataclass(frozen=True)
class StackEndpoints:
    moto_url: str  # http://127.0.0.1:PORT, the endpoint of every boto3 client on local
    registry: str  # 127.0.0.1:PORT, the host part of image URIs on local
    state_dir: Path
    sagemaker_url: str = ""  # http://127.0.0.1:PORT, the training control plane (SageMaker's API)

    @property
    def registry_url(self) -> str:
        return f"http://{self.registry}"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int | None
    running: bool  # the recorded pid is alive and is this service
    healthy: bool  # it answers on its port
    log: Path

    @property
    def address(self) -> str | None:
        return f"{HOST}:{self.port}" if self.port else None


def _stack_dir(settings: Settings) -> Path:
    return settings.local_stack_dir.resolve()


def _read_state(stack_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        state = json.loads((stack_dir / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise LocalStackError(
            f"the local stack state {stack_dir / STATE_FILE} is unreadable: {exc}",
            code="stack.state_unreadable",
            values={"path": str(stack_dir / STATE_FILE), "cause": str(exc)},
        ) from None
    return state if isinstance(state, dict) else {}


def _write_state(stack_dir: Path, state: dict[str, dict[str, Any]]) -> None:
    partial = stack_dir / f"{STATE_FILE}.tmp"
    partial.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, stack_dir / STATE_FILE)  # atomic: a reader never sees half a file


@contextlib.contextmanager
def _locked(stack_dir: Path) -> Iterator[None]:
    """One starter at a time across processes (the app, the CLI and workers race at start-up)."""
    stack_dir.mkdir(parents=True, exist_ok=True)
    with open(stack_dir / LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_is(pid: int | None, name: str) -> bool:
    """The pid runs (not a zombie) and is this service, not a program that reused the pid."""
    if not pid or not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(marker in cmdline for marker in _CMDLINE_MARKERS[name])


def _answers(name: str, port: int, timeout: float = 1.0, deep: bool = False) -> bool:
    """Whether the service answers on its port. The sidebar's status runs this check on every page
    and moto logs each HTTP request, so moto gets a TCP connect unless ``deep`` (its pid already
    proved what it is)."""
    if name == MOTO and not deep:
        try:
            with socket.create_connection((HOST, port), timeout=timeout):
                return True
        except OSError:
            return False
    path = {REGISTRY: "/v2/", MOTO: "/moto-api/", CONTROL_PLANE: "/ping"}[name]
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500  # the registry answers 401 when auth is on: it is up
    except (OSError, ValueError):
        return False


def _service_status(stack_dir: Path, name: str, entry: dict[str, Any] | None) -> ServiceStatus:
    pid = entry.get("pid") if entry else None
    port = entry.get("port") if entry else None
    running = _pid_is(pid, name)
    healthy = running and port is not None and _answers(name, int(port))
    return ServiceStatus(name, pid, port, running, healthy, stack_dir / f"{name}.log")


def status(settings: Settings) -> list[ServiceStatus]:
    """Each service's recorded pid and port, whether it runs and whether it answers."""
    stack_dir = _stack_dir(settings)
    state = _read_state(stack_dir)
    return [_service_status(stack_dir, name, state.get(name)) for name in SERVICES]


def _endpoints(stack_dir: Path, state: dict[str, dict[str, Any]]) -> StackEndpoints:
    return StackEndpoints(
        moto_url=f"http://{HOST}:{state[MOTO]['port']}",
        registry=f"{HOST}:{state[REGISTRY]['port']}",
        state_dir=stack_dir,
        sagemaker_url=f"http://{HOST}:{state[CONTROL_PLANE]['port']}",
    )


def _down(state: dict[str, dict[str, Any]]) -> list[str]:
    return [n for n in SERVICES if not (state.get(n, {}).get("port") and _pid_is(state[n].get("pid"), n))]


def is_running(stack_dir: Path) -> bool:
    """Every service of the stack in this folder runs (a file read and a /proc look each)."""
    return not _down(_read_state(stack_dir))


def running_endpoints(settings: Settings) -> StackEndpoints:
    """The running stack's endpoints, as it recorded them: a file read and a /proc look per
    service, no start and no network call (every boto3 client on local asks this)."""
    stack_dir = _stack_dir(settings)
    state = _read_state(stack_dir)
    down = _down(state)
    if down:
        raise LocalStackError(
            "the local stack is not running: run `titanic-sm local up` or `make run` "
            f"({', '.join(down)} down; state in {stack_dir})",
            code="stack.not_running",
            values={"down": ", ".join(down), "folder": str(stack_dir)},
        )
    return _endpoints(stack_dir, state)


def ensure_running(settings: Settings) -> StackEndpoints:
    """Start whatever part of the stack is not answering; return its endpoints. Idempotent.

    Only the edges call this (``local up``, the app's start, the CLI commands that use AWS, the
    worker, test fixtures); clients read ``running_endpoints`` and never start anything."""
    stack_dir = _stack_dir(settings)
    state = _read_state(stack_dir)
    if (stack_dir / REGISTRY_CREDENTIALS_FILE).is_file() and all(
        _service_status(stack_dir, n, state.get(n)).healthy for n in SERVICES
    ):
        return _endpoints(stack_dir, state)  # already up
    with _locked(stack_dir):
        state = _read_state(stack_dir)  # another process may have started it meanwhile
        if not _service_status(stack_dir, CONTROL_PLANE, state.get(CONTROL_PLANE)).healthy:
            # It runs jobs in Docker: say so before starting anything, in one line with the fix.
            _require_docker()
        moved = False  # moto or the registry came back on another port
        # A stack from before per-stack logins: moto and the registry start again with the new one.
        renewed = _ensure_registry_credentials(stack_dir)
        for name in SERVICES:
            current = _service_status(stack_dir, name, state.get(name))
            # The control plane was started with the others' ports: it follows them when they move.
            follows = (name == CONTROL_PLANE and moved) or (renewed and current.running)
            if current.healthy and not follows:
                continue
            # Alive but not answering: maybe still starting.
            if (
                current.running
                and not follows
                and _wait_until_answers(name, int(current.port or 0), current.pid, deadline=5.0)
            ):
                continue
            if current.running:
                _terminate(current.pid, name)
            state[name] = _start(settings, stack_dir, name, current.port, state)
            moved = moved or state[name]["port"] != current.port
            _write_state(stack_dir, state)
    return _endpoints(stack_dir, state)


def _free_port(preferred: int | None) -> int:
    """The port used before when it is free (image URIs on local carry the registry's port)."""
    for candidate in (preferred, 0):
        if candidate is None:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As both servers do: a port left in TIME_WAIT by the previous run is free to reuse.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise LocalStackError(
        f"no free port on {HOST}", code="stack.no_free_port", values={"host": HOST}
    )  # pragma: no cover - the kernel always has one


def registry_command(config: Path) -> list[str]:
    return ["docker-registry", "serve", str(config)]


def _ensure_registry_credentials(stack_dir: Path) -> bool:
    """Create the stack's registry login (random, 0600) unless it exists; True when created now."""
    path = stack_dir / REGISTRY_CREDENTIALS_FILE
    if path.is_file():
        return False
    partial = stack_dir / f"{REGISTRY_CREDENTIALS_FILE}.tmp"
    # Created 0600 from the start: the password is never readable by others, not even briefly.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"user": REGISTRY_USER, "password": secrets.token_urlsafe(32)}, handle)
    os.replace(partial, path)
    return True


def registry_credentials(settings: Settings) -> tuple[str, str]:
    """The stack's registry login (user, password), created with the stack (``local up``)."""
    stack_dir = _stack_dir(settings)
    stack_dir.mkdir(parents=True, exist_ok=True)
    _ensure_registry_credentials(stack_dir)
    return moto_ecr.read_credentials(stack_dir / REGISTRY_CREDENTIALS_FILE)


def ecr_login_secret(settings: Settings, moto_url: str) -> tuple[str, str]:
    """The user and password that ECR's ``get_authorization_token`` hands out: the stack's own
    (services.local.moto_ecr)."""
    import boto3  # only the registry's start needs a client, before the stack is complete

    ecr = boto3.client("ecr", endpoint_url=moto_url, region_name=settings.region, **LOCAL_CREDENTIALS)
    user, password, _ = ecr_authorization(ecr)
    return user, password


def ecr_authorization(ecr: Any) -> tuple[str, str, str]:
    """``get_authorization_token``'s user, password and registry endpoint: the token is base64 of
    ``user:password`` (``AWS:...`` on ECR and moto alike)."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return user, password, str(data["proxyEndpoint"])


def _write_htpasswd(stack_dir: Path, user: str, password: str) -> Path:
    import bcrypt  # only the local registry needs it

    # Low cost on purpose: the registry checks the hash on every request, and it serves loopback only.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    path = stack_dir / "registry.htpasswd"
    path.write_text(f"{user}:{hashed}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _registry_config(stack_dir: Path, port: int, htpasswd: Path) -> Path:
    storage = stack_dir / "registry-data"
    storage.mkdir(parents=True, exist_ok=True)
    config = stack_dir / "registry.yml"
    # JSON is valid YAML: no YAML writer needed, and paths with odd characters stay quoted.
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
                # As on ECR, nothing is pushed or pulled without `docker login` with the ECR token.
                "auth": {"htpasswd": {"realm": "titanic-sm-local-ecr", "path": str(htpasswd)}},
                "http": {
                    "addr": f"{HOST}:{port}",
                    # Signs upload state; a fixed per-stack secret keeps uploads valid across restarts.
                    "secret": _http_secret(stack_dir),
                    "headers": {"X-Content-Type-Options": ["nosniff"]},
                },
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return config


def _http_secret(stack_dir: Path) -> str:
    path = stack_dir / "registry-http-secret"
    if not path.is_file():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _start(
    settings: Settings,
    stack_dir: Path,
    name: str,
    preferred_port: int | None,
    state: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    port = _free_port(preferred_port)
    log_path = stack_dir / f"{name}.log"
    environment = dict(os.environ)
    moto_url = f"http://{HOST}:{state[MOTO]['port']}" if name != MOTO else ""
    if name == MOTO:
        credentials = stack_dir / REGISTRY_CREDENTIALS_FILE
        command = [sys.executable, "-m", MOTO_MODULE, moto_ecr.CREDENTIALS_OPTION, str(credentials)]
        command += ["-H", HOST, "-p", str(port)]
        label = "moto"
        recording = stack_dir / MOTO_RECORDING
        recording_module.compact(recording)
        environment.update({"MOTO_ENABLE_RECORDING": "true", "MOTO_RECORDER_FILEPATH": str(recording)})
    elif name == CONTROL_PLANE:
        label = "the training control plane"
        command = [
            sys.executable,
            "-m",
            "services.local.control_plane",
            "--port",
            str(port),
            "--state-dir",
            str(stack_dir / CONTROL_PLANE_DIR),
            "--moto-url",
            moto_url,
            "--registry",
            f"{HOST}:{state[REGISTRY]['port']}",
            "--region",
            settings.region,
            "--stop-grace-seconds",
            str(settings.local_stop_grace_seconds),
            *(
                ["--quotas-file", str(settings.local_quotas_file.resolve())]
                if settings.local_quotas_file
                else []
            ),
        ]
    else:
        label = "the Docker registry"
        try:
            htpasswd = _write_htpasswd(stack_dir, *registry_credentials(settings))
        except (OSError, ValueError, KeyError) as exc:
            raise LocalStackError(
                f"{label} failed to start on {HOST}:{port}: the stack's registry login "
                f"{stack_dir / REGISTRY_CREDENTIALS_FILE} is unreadable: {exc}",
                code="stack.registry_login_unreadable",
                values={
                    "service": label,
                    "host": HOST,
                    "port": port,
                    "path": str(stack_dir / REGISTRY_CREDENTIALS_FILE),
                    "cause": str(exc),
                },
            ) from None
        command = registry_command(_registry_config(stack_dir, port, htpasswd))
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=stack_dir,
                env=environment,
                start_new_session=True,  # survives the caller's exit and its Ctrl-C
                close_fds=True,
            )
        except FileNotFoundError:
            raise LocalStackError(
                f"{label} failed to start on {HOST}:{port}: {command[0]} is not installed "
                "(run `make docker`)",
                code="stack.not_installed",
                values={"service": label, "host": HOST, "port": port, "command": command[0]},
            ) from None
    if not _wait_until_answers(name, port, process.pid, deadline=START_TIMEOUT_SECONDS, process=process):
        if process.poll() is None:
            _terminate(process.pid, name)
        cause = _last_log_line(log_path)
        raise LocalStackError(
            f"{label} failed to start on {HOST}:{port}: {cause}",
            code="stack.failed_to_start",
            values={"service": label, "host": HOST, "port": port, "cause": cause},
        )
    if name == MOTO:
        _replay_moto(port, log_path)
    return {"pid": process.pid, "port": port, "started_at": time.time(), "command": command}


def _require_docker() -> None:
    from services import docker_cli

    try:
        docker_cli.require_daemon()
    except docker_cli.DockerError as exc:
        raise LocalStackError(str(exc), code=exc.code, values=exc.values) from None


def _replay_moto(port: int, log_path: Path) -> None:
    """Put back what moto held before it stopped: replay its (compacted) request recording."""
    started = time.monotonic()
    request = urllib.request.Request(
        f"http://{HOST}:{port}/moto-api/recorder/replay-recording", method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
    except (OSError, ValueError) as exc:
        raise LocalStackError(
            f"moto started on {HOST}:{port} but replaying its recording failed: {exc}",
            code="stack.replay_failed",
            values={"host": HOST, "port": port, "cause": str(exc)},
        ) from None
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"titanic-sm: replayed the moto recording in {time.monotonic() - started:.2f}s\n")


def _wait_until_answers(
    name: str,
    port: int,
    pid: int | None,
    deadline: float,
    process: subprocess.Popen[bytes] | None = None,
) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if port and _answers(name, port, timeout=0.5, deep=True):
            return True
        if process is not None and process.poll() is not None:
            return False
        if process is None and not _pid_is(pid, name):
            return False
        time.sleep(0.1)
    return False


def _last_log_line(log_path: Path) -> str:
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else f"no answer within {START_TIMEOUT_SECONDS:.0f}s (log: {log_path})"


def _terminate(pid: int | None, name: str) -> bool:
    """SIGTERM the service's process group, then SIGKILL; only if the pid is still that service."""
    if not _pid_is(pid, name):
        return False
    assert pid is not None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        end = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < end:
            if not _pid_is(pid, name):
                _reap(pid)
                return True
            time.sleep(0.05)
    return not _pid_is(pid, name)


def _reap(pid: int) -> None:
    """Collect the exit status if this process started the service (else it stays a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop(settings: Settings) -> list[str]:
    """Stop every service; returns the names of those that were running. Data stays on disk.

    Training jobs that still run keep their containers: the control plane adopts them when it
    starts again."""
    stack_dir = _stack_dir(settings)
    if not stack_dir.is_dir():
        return []
    with _locked(stack_dir):
        state = _read_state(stack_dir)
        # The control plane first: it must not see moto go away under a running job's upload.
        stopped = {
            name for name in reversed(SERVICES) if _terminate((state.get(name) or {}).get("pid"), name)
        }
        # Keep the ports: the next start reuses them, so image URIs on 127.0.0.1:PORT stay valid.
        _write_state(stack_dir, {n: {"pid": None, "port": e.get("port")} for n, e in state.items()})
    return [name for name in SERVICES if name in stopped]


def client_environment(settings: Settings, endpoints: StackEndpoints) -> dict[str, str]:
    """The variables that point any AWS client (boto3, the AWS CLI, the SageMaker SDK) at the stack:
    moto for every service, the control plane for SageMaker, the region and moto's fake keys."""
    return {
        "AWS_ENDPOINT_URL": endpoints.moto_url,
        "AWS_ENDPOINT_URL_SAGEMAKER": endpoints.sagemaker_url,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
    }


def describe(settings: Settings) -> dict[str, Any]:
    """A JSON-friendly view for `titanic-sm local status --json` and the dashboard."""
    return {s.name: {**asdict(s), "log": str(s.log), "address": s.address} for s in status(settings)}
