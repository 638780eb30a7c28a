"""The warm worker: one detached ``titanic-sm worker --standby`` process per job store that has
already imported the SageMaker SDK and waits for the next launch.

A fresh worker spends about 3 s of CPU importing the SDK before it can call ``Estimator.fit``, and
that sat between the dashboard's Launch and the job's first log line. A standby pays it ahead:
``launch`` hands the job over (one line on a Unix socket) and the standby becomes that job's
worker, running the very ``run_worker`` a spawned worker runs, with its output in the same worker
log. Then ``launch`` starts the next standby. Nothing else changes: the job's stored settings
drive the run, the follower lock keeps a job to one follower, and where no standby answers (the
first launch, a standby that went idle, ``warm_worker`` off) the worker is spawned as before.

A standby takes a job only from a launcher with the same code, interpreter, job store and
environment as its own (``stamp``); otherwise it declines and exits, and the launcher spawns.
It exits by itself after ``STANDBY_IDLE_SECONDS`` without a job, when its job store is gone, or
(local target) when the local stack is down. The sockets are Linux abstract ones: no file to
leave behind, no path-length limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services import processes
from services.settings import ENV_PREFIX

__all__ = ["STANDBY_IDLE_SECONDS", "hand_over", "serve", "stamp", "start"]

# A standby with no job for this long exits (its SDK import is about 150 MB of memory).
STANDBY_IDLE_SECONDS = 600.0
# How often an idle standby checks that its job store and (local) stack are still there.
_CHECK_SECONDS = 5.0
# How much lower than its launcher a standby runs while it imports (then it goes back, if it may).
_WARM_UP_NICENESS = 10
# A launcher waits this long for the standby's answer; then it spawns a worker as before.
_ANSWER_SECONDS = 5.0
# What a worker's environment may differ in without changing what it does: the rest must match.
_ENV_PREFIXES = (ENV_PREFIX, "AWS_", "SAGEMAKER_", "DOCKER_", "PYTHON")
_ENV_NAMES = ("PATH", "HOME", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_CODE_ROOTS = ("services", "container")


def _address(job_store: Path, role: str) -> bytes:
    """An abstract socket name for this job store: ``claim`` (one standby at a time) or ``serve``."""
    digest = hashlib.sha256(str(job_store.resolve()).encode()).hexdigest()[:16]
    return f"\0titanic-sm-standby-{role}-{digest}".encode()


def stamp(job_store: Path, environ: Mapping[str, str]) -> str:
    """What a worker's behaviour depends on besides the job's own record: the code on disk, the
    interpreter, the job store and the environment that clients read."""
    digest = hashlib.sha256()
    digest.update(f"{sys.executable}\0{job_store.resolve()}\0".encode())
    for name in sorted(environ):
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            digest.update(f"{name}={environ[name]}\0".encode())
    for path in _code_files():
        info = path.stat()
        digest.update(f"{path}:{info.st_mtime_ns}:{info.st_size}\0".encode())
    return digest.hexdigest()


def _code_files() -> list[Path]:
    """The source and data files a worker runs on (an edit after a standby started makes it stale)."""
    root = Path(__file__).resolve().parents[2]
    return sorted(
        path
        for package in _CODE_ROOTS
        for path in (root / package).rglob("*")
        if path.suffix in (".py", ".toml", ".json") and "__pycache__" not in path.parts
    )


def _available() -> bool:
    return sys.platform.startswith("linux")  # abstract Unix sockets are Linux's


def hand_over(job_store: Path, job_id: str, environ: Mapping[str, str]) -> int | None:
    """Give the job to this job store's standby; its pid, or None when no standby took it."""
    if not _available():
        return None
    request = json.dumps({"job_id": job_id, "stamp": stamp(job_store, environ)}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(_ANSWER_SECONDS)
        try:
            connection.connect(_address(job_store, "serve"))
            connection.sendall(request)
            answer = _read_line(connection)
        except OSError:  # none listening, or it went away mid-answer: spawn as before
            return None
    pid = answer.get("pid")
    return pid if isinstance(pid, int) and pid > 1 else None


def start(command: list[str], environ: Mapping[str, str], log_path: Path, cwd: Path) -> None:
    """Start the next standby (detached, like a worker) unless the job store has one already: the
    duplicate's first act is to claim the store's name, and it exits when another holds it."""
    if _available():
        processes.spawn_detached(command, environ, log_path, cwd)


def serve(
    job_store: Path,
    warm_up: Callable[[], None],
    run_worker: Callable[[Path, str], int],
    log_path_for: Callable[[str], Path],
    stack_is_up: Callable[[], bool],
    idle_seconds: float = STANDBY_IDLE_SECONDS,
) -> int:
    """The standby's life: claim the job store, ``warm_up`` (import the SDK), wait for one job
    and run it as its worker (or exit idle). Returns the exit code of ``titanic-sm worker --standby``."""
    if not _available():
        return 0
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(_address(job_store, "claim"))
    except OSError:  # another standby holds this job store
        claim.close()
        print("standby: another standby serves this job store; exiting", flush=True)
        return 0
    started = time.monotonic()
    own_stamp = stamp(job_store, os.environ)  # before the imports: they may set variables of their own
    # It warms up beside the job whose launch started it: it must not slow that job down.
    priority = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, min(priority + _WARM_UP_NICENESS, 19))
    warm_up()  # the point of a standby: the SDK loaded before the job comes
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(_address(job_store, "serve"))
    listener.listen(4)
    listener.settimeout(_CHECK_SECONDS)
    print(f"standby: ready in {time.monotonic() - started:.1f} s (pid {os.getpid()})", flush=True)
    job_id = _wait_for_job(job_store, listener, own_stamp, stack_is_up, idle_seconds)
    listener.close()
    claim.close()  # the next standby may claim the job store now
    if job_id is None:
        return 0
    with contextlib.suppress(PermissionError):  # back to a worker's priority (a user may not: root may)
        os.setpriority(os.PRIO_PROCESS, 0, priority)
    _become_worker_of(job_id, log_path_for(job_id))
    return run_worker(job_store, job_id)


def _wait_for_job(
    job_store: Path,
    listener: socket.socket,
    own_stamp: str,
    stack_is_up: Callable[[], bool],
    idle_seconds: float,
) -> str | None:
    deadline = time.monotonic() + idle_seconds
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            if time.monotonic() > deadline:
                print("standby: idle; exiting", flush=True)
                return None
            if not job_store.exists() or not stack_is_up():
                print("standby: the job store or the local stack is gone; exiting", flush=True)
                return None
            continue
        with connection:
            connection.settimeout(_ANSWER_SECONDS)
            try:
                request = _read_line(connection)
                job_id = request.get("job_id")
                if request.get("stamp") != own_stamp or not isinstance(job_id, str):
                    # A launcher with other code or settings: it spawns, and starts a standby like it.
                    connection.sendall(b'{"declined": "stale"}\n')
                    print("standby: a launcher with other code or settings; exiting", flush=True)
                    return None
                connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
            except OSError:  # the launcher gave up waiting: it spawned a worker itself
                continue
        print(f"standby: took job {job_id}", flush=True)
        return job_id


def _read_line(connection: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a whole line")
        data += chunk
        if len(data) > 65536:
            raise ConnectionError("line too long")
    value = json.loads(data)
    return value if isinstance(value, dict) else {}


def _become_worker_of(job_id: str, log_path: Path) -> None:
    """From now on this process looks like a worker spawned for the job: ``ps`` shows its command
    line (``... worker JOB_ID``) and it writes to the job's worker log."""
    import setproctitle

    setproctitle.setproctitle(" ".join(job_id if part == "--standby" else part for part in sys.orig_argv))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
