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
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from services import processes
from services.settings import ENV_PREFIX

__all__ = ["STANDBY_IDLE_SECONDS", "hand_over", "serve", "stamp", "start"]

# A standby with no job for this long exits (its SDK import is about 150 MB of memory).
STANDBY_IDLE_SECONDS = 600.0
# How often an idle standby checks that its job store and (local) stack are still there.
_CHECK_SECONDS = 5.0
# How much lower than its launcher a standby's import thread runs (the job's own threads never are).
_WARM_UP_NICENESS = 10
# A launcher waits this long for the standby's answer; then it spawns a worker as before.
_ANSWER_SECONDS = 5.0
# A standby that answered waits this long for the launcher's go-ahead (sent as soon as the answer
# is read); without it, it serves on and the launcher has spawned a worker.
_CONFIRM_SECONDS = 30.0
# What a worker's environment may differ in without changing what it does: the rest must match.
_ENV_PREFIXES = (ENV_PREFIX, "AWS_", "SAGEMAKER_", "DOCKER_", "PYTHON", "BOTO_", "LC_", "XDG_")
_ENV_NAMES = (
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
# The installed packages a standby has loaded ahead: an upgrade makes it stale.
_PACKAGES = ("sagemaker", "boto3", "botocore")
_CODE_ROOTS = ("services", "container")
_CREDENTIALS = struct.Struct("3i")  # SO_PEERCRED: pid, uid, gid


def _address(job_store: Path, role: str) -> bytes:
    """An abstract socket name for this job store: ``claim`` (one standby at a time) or ``serve``."""
    digest = hashlib.sha256(str(job_store.resolve()).encode()).hexdigest()[:16]
    return f"\0titanic-sm-standby-{role}-{digest}".encode()


def stamp(job_store: Path, environ: Mapping[str, str]) -> str:
    """What a worker's behaviour depends on besides the job's own record: the code on disk, the
    packages it loaded, the interpreter, the job store and the environment that clients read."""
    digest = hashlib.sha256()
    digest.update(f"{sys.executable}\0{job_store.resolve()}\0".encode())
    for name in sorted(environ):
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            digest.update(f"{name}={environ[name]}\0".encode())
    for package in _PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing\0".encode())
    for path in _code_files():
        try:
            info = path.stat()
        except OSError:  # removed since it was listed (a checkout, an editor's save)
            continue
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
    return sys.platform.startswith("linux")  # abstract Unix sockets and SO_PEERCRED are Linux's


def _peer(connection: socket.socket) -> tuple[int, int]:
    """The other end's pid and uid, as the kernel says (not as it says)."""
    pid, uid, _ = _CREDENTIALS.unpack(
        connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    )
    return pid, uid


def _is_standby_of(pid: int, job_store: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--standby" in cmdline and str(job_store.resolve()).encode() in cmdline


def hand_over(job_store: Path, job_id: str, log_path: Path, environ: Mapping[str, str]) -> int | None:
    """Give the job to this job store's standby; its pid, or None when no standby took it (then
    the caller spawns a worker as before). Best effort: nothing here fails a launch."""
    if not _available():
        return None
    try:
        request = {"job_id": job_id, "log": str(log_path), "stamp": stamp(job_store, environ)}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(_ANSWER_SECONDS)
            connection.connect(_address(job_store, "serve"))
            pid, uid = _peer(connection)
            # Only our own user's standby of this very store, whatever holds the name.
            if uid != os.getuid() or not _is_standby_of(pid, job_store):
                return None
            connection.sendall(json.dumps(request).encode() + b"\n")
            if _read_line(connection).get("pid") != pid:
                return None  # declined (stale), or not a standby's answer
            connection.sendall(b"go\n")  # the standby runs the job only after this
    except (OSError, ValueError):  # none listening, it went away, or it answered nonsense
        return None
    return pid


def start(job_store: Path, command: list[str], environ: Mapping[str, str], log_path: Path, cwd: Path) -> None:
    """Start the next standby (detached, like a worker) unless the job store has one already.
    Best effort, like the hand-over: a standby that cannot start costs the next launch 3 s, no more."""
    if not _available():
        return
    probe = _Claim(job_store)
    if not probe.take():
        return  # claimed: one is warming up or serving
    probe.release()
    with contextlib.suppress(OSError):
        processes.spawn_detached(command, environ, log_path, cwd)


def serve(
    job_store: Path,
    warm_up: Callable[[], None],
    run_worker: Callable[[Path, str], int],
    stack_is_up: Callable[[], bool],
    idle_seconds: float = STANDBY_IDLE_SECONDS,
) -> int:
    """The standby's life: claim the job store, ``warm_up`` (import the SDK), wait for one job
    and run it as its worker (or exit idle). Returns the exit code of ``titanic-sm worker --standby``."""
    if not _available():
        return 0
    claim = _Claim(job_store)
    if not claim.take():  # another standby holds this job store
        print("standby: another standby serves this job store; exiting", flush=True)
        return 0
    started = time.monotonic()
    own_stamp = stamp(job_store, os.environ)  # before the imports: they may set variables of their own
    _gently(warm_up)  # the point of a standby: the SDK loaded before the job comes
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(_address(job_store, "serve"))
    listener.listen(4)
    listener.settimeout(_CHECK_SECONDS)
    print(f"standby: ready in {time.monotonic() - started:.1f} s (pid {os.getpid()})", flush=True)
    taken = _wait_for_job(job_store, listener, claim, own_stamp, stack_is_up, idle_seconds)
    listener.close()
    claim.release()  # the next standby may claim the job store now (a taker already has)
    if taken is None:
        return 0
    job_id, log_path = taken
    _become_worker_of(job_id, log_path)
    return run_worker(job_store, job_id)


def _gently(warm_up: Callable[[], None]) -> None:
    """Run ``warm_up`` in a thread of lower priority: the standby warms up beside the job whose
    launch started it and must not slow it down. Linux sets a nice value per thread, so the
    process (and the job it may run) keeps its own; no privilege is needed to lower one."""
    failed: list[BaseException] = []

    def run() -> None:
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(
                os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + _WARM_UP_NICENESS, 19)
            )
        try:
            warm_up()
        except BaseException as exc:  # raised again in the standby's own thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="standby-warm-up")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


class _Claim:
    """The job store's one-standby name: held while a standby warms up and serves, let go the
    moment it answers a launcher (so the standby that launcher starts next can take it)."""

    def __init__(self, job_store: Path) -> None:
        self._address = _address(job_store, "claim")
        self._socket: socket.socket | None = None

    def take(self) -> bool:
        held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            held.bind(self._address)
        except OSError:
            held.close()
            return False
        self._socket = held
        return True

    @property
    def held(self) -> bool:
        return self._socket is not None

    def release(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _wait_for_job(
    job_store: Path,
    listener: socket.socket,
    claim: _Claim,
    own_stamp: str,
    stack_is_up: Callable[[], bool],
    idle_seconds: float,
) -> tuple[str, Path] | None:
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
            try:
                taken = _answer(connection, own_stamp, claim)
            except (OSError, ValueError):  # the launcher gave up, or sent nonsense: it spawns itself
                taken = None
        if taken is None and not claim.held and not claim.take():  # let go for a launcher that left
            print("standby: another standby took this job store meanwhile; exiting", flush=True)
            return None
        if taken == "stale":
            print("standby: a launcher with other code or settings; exiting", flush=True)
            return None
        if isinstance(taken, tuple):
            print(f"standby: took job {taken[0]}", flush=True)
            return taken


def _answer(connection: socket.socket, own_stamp: str, claim: _Claim) -> tuple[str, Path] | str | None:
    """One launcher's request: the job and its log once the launcher said go, "stale" for a
    launcher with other code or settings, or None (not our user, or no go-ahead)."""
    if _peer(connection)[1] != os.getuid():
        return None
    connection.settimeout(_ANSWER_SECONDS)
    request = _read_line(connection)
    job_id, log = request.get("job_id"), request.get("log")
    if request.get("stamp") != own_stamp or not isinstance(job_id, str) or not isinstance(log, str):
        # It spawns a worker, and starts a standby like itself.
        connection.sendall(b'{"declined": "stale"}\n')
        return "stale"
    claim.release()  # before the answer: the launcher starts the next standby as soon as it has it
    connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    connection.settimeout(_CONFIRM_SECONDS)
    if _read_raw_line(connection) != b"go\n":
        return None  # it gave up waiting for the answer and spawned a worker: serve on
    return job_id, Path(log)


def _read_raw_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a whole line")
        data += chunk
        if len(data) > 65536:
            raise ConnectionError("line too long")
    return data


def _read_line(connection: socket.socket) -> dict[str, Any]:
    value = json.loads(_read_raw_line(connection))
    return value if isinstance(value, dict) else {}


def _become_worker_of(job_id: str, log_path: Path) -> None:
    """From now on this process looks like a worker spawned for the job: ``ps`` shows the command
    line a spawned one has (``... worker --job-store STORE JOB_ID``) and it writes to the job's
    worker log, the one the launcher recorded."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    import setproctitle

    argv = sys.orig_argv
    spawned = [*argv[: argv.index("--standby")], job_id] if "--standby" in argv else [*argv, job_id]
    setproctitle.setproctitle(" ".join(spawned))
