"""The warm worker (services.training.standby) as real processes: a standby takes one job from a
launcher with its own stamp and runs it as that job's worker; anything else spawns as before."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from services.training import standby

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

# A standby whose warm-up, worker and stack are stand-ins: what it does with them is what's tested.
DRIVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from services.training import standby

    standby._CHECK_SECONDS = 0.2
    # The argv of a real standby: ... worker --job-store STORE --standby --local-stack-dir DIR
    state, idle, stack_gone = Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])

    def run_worker(job_store, job_id):
        print(f"worker for {job_id}", flush=True)
        cmdline = Path("/proc/self/cmdline").read_bytes().replace(b"\\0", b" ").decode()
        (state / "ran.json").write_text(json.dumps({"job": job_id, "cmdline": cmdline}))
        return 7

    sys.exit(standby.serve(
        state / "jobs.sqlite3",
        lambda: print("warming", flush=True),
        run_worker,
        lambda: not stack_gone.exists(),
        idle_seconds=idle,
    ))
    """
)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    (path / "jobs.sqlite3").touch()  # a standby serves a job store that is there
    return path


@pytest.fixture
def environ() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TITANIC_SM_BUCKET": "titanic-sm-local"}


class Standby:
    def __init__(self, state: Path, environ: Mapping[str, str], idle: float = 60.0) -> None:
        self.output = state.parent / f"standby-{time.monotonic_ns()}.out"
        self.stack_gone = state.parent / "stack-gone"
        driver = state.parent / "driver.py"
        driver.write_text(DRIVER)
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *[sys.executable, str(driver), str(state), str(idle), str(self.stack_gone)],
                    *["worker", "--job-store", str(state / "jobs.sqlite3")],
                    *["--standby", "--local-stack-dir", str(self.stack_gone)],
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(environ),
            )

    def text(self) -> str:
        return self.output.read_text()

    def wait_for(self, words: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.text():
            assert self.process.poll() is None or words in self.text(), self.text()
            assert time.monotonic() < deadline, f"no {words!r} in: {self.text()}"
            time.sleep(0.05)

    def exit_code(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout)


@pytest.fixture
def standbys() -> Iterator[list[Standby]]:
    started: list[Standby] = []
    yield started
    for one in started:
        if one.process.poll() is None:
            one.process.kill()
            one.process.wait()


def start(standbys: list[Standby], state: Path, environ: Mapping[str, str], idle: float = 60.0) -> Standby:
    one = Standby(state, environ, idle)
    standbys.append(one)
    return one


def test_a_standby_takes_one_job_and_runs_it_as_that_jobs_worker(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    one = start(standbys, state, environ)
    one.wait_for("standby: ready")
    # A variable no worker reads (the terminal's width) may differ.
    log = state / "workers" / "job-1.log"
    pid = standby.hand_over(state / "jobs.sqlite3", "job-1", log, {**environ, "COLUMNS": "33"})
    assert pid == one.process.pid
    assert one.exit_code() == 7  # the worker's own exit code
    ran = json.loads((state / "ran.json").read_text())
    assert ran["job"] == "job-1"
    # ps shows it as a worker spawned for the job: the spawned worker's argv, word for word.
    assert ran["cmdline"].split()[-4:] == ["worker", "--job-store", str(state / "jobs.sqlite3"), "job-1"]
    assert "--standby" not in ran["cmdline"] and "--local-stack-dir" not in ran["cmdline"]
    # From the hand-over on, it writes where the launcher recorded the job's worker log.
    assert "worker for job-1" in log.read_text()
    assert "worker for job-1" not in one.text()
    assert "warming" in one.text()


def test_a_launcher_with_other_settings_is_declined_and_the_standby_makes_room(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    one = start(standbys, state, environ)
    one.wait_for("standby: ready")
    other = {**environ, "TITANIC_SM_BUCKET": "another-bucket"}
    assert standby.hand_over(state / "jobs.sqlite3", "job-1", state / "job-1.log", other) is None
    assert one.exit_code() == 0
    assert not (state / "ran.json").exists()
    assert "other code or settings" in one.text()


def test_one_standby_per_job_store(state: Path, environ: dict[str, str], standbys: list[Standby]) -> None:
    first = start(standbys, state, environ)
    first.wait_for("standby: ready")
    second = start(standbys, state, environ)
    assert second.exit_code() == 0
    assert "another standby serves this job store" in second.text()
    assert "warming" not in second.text()  # it gave up before the costly part
    assert first.process.poll() is None
    assert (
        standby.hand_over(state / "jobs.sqlite3", "job-2", state / "job-2.log", environ) == first.process.pid
    )


def test_an_idle_standby_exits_without_running_anything(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    one = start(standbys, state, environ, idle=0.5)
    assert one.exit_code() == 0
    assert "idle; exiting" in one.text()
    assert not (state / "ran.json").exists()


def test_a_standby_exits_when_its_stack_is_down(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    one = start(standbys, state, environ)
    one.wait_for("standby: ready")
    one.stack_gone.touch()
    assert one.exit_code() == 0
    assert "the local stack is gone" in one.text()


def test_with_no_standby_the_launcher_spawns(state: Path, environ: dict[str, str]) -> None:
    assert (
        standby.hand_over(state / "jobs.sqlite3", "job-1", state / "j.log", environ) is None
    )  # nobody listens


def test_a_standby_exits_when_its_job_store_is_gone(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    one = start(standbys, state, environ)
    one.wait_for("standby: ready")
    (state / "jobs.sqlite3").unlink()
    assert one.exit_code() == 0
    assert "job store or the local stack is gone" in one.text()


def test_the_stamp_is_what_a_worker_depends_on(
    tmp_path: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "module.py"
    code.write_text("x = 1\n")
    monkeypatch.setattr(standby, "_code_files", lambda: [code])
    store = tmp_path / "a" / "jobs.sqlite3"
    before = standby.stamp(store, environ)
    assert standby.stamp(store, {**environ, "COLUMNS": "80", "TERM": "dumb"}) == before
    assert standby.stamp(store, {**environ, "AWS_PROFILE": "other"}) != before
    assert standby.stamp(store, {**environ, "TITANIC_SM_REGION": "eu-west-1"}) != before
    assert standby.stamp(tmp_path / "b" / "jobs.sqlite3", environ) != before
    code.write_text("x = 22\n")  # an edit after the standby started
    assert standby.stamp(store, environ) != before


def test_the_stamp_covers_the_workers_code() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in standby._code_files()}
    assert {"services/training/worker.py", "container/contract.py", "services/messages/errors.toml"} <= files


def test_a_launcher_that_gives_up_before_its_go_ahead_leaves_the_standby_serving(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    one = start(standbys, state, environ)
    one.wait_for("standby: ready")
    store = state / "jobs.sqlite3"
    request = {"job_id": "job-late", "log": str(state / "late.log"), "stamp": standby.stamp(store, environ)}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as late:
        late.connect(standby._address(store, "serve"))
        late.sendall(json.dumps(request).encode() + b"\n")
        assert json.loads(late.recv(4096)) == {"pid": one.process.pid}
    # It closed without "go" (it timed out and spawned a worker itself): the standby runs nothing.
    assert standby.hand_over(store, "job-next", state / "next.log", environ) == one.process.pid
    assert one.exit_code() == 7
    assert json.loads((state / "ran.json").read_text())["job"] == "job-next"
    assert not (state / "late.log").exists()


def test_only_a_standby_of_the_store_is_given_a_job(state: Path, environ: dict[str, str]) -> None:
    """Whatever else holds the name (it is predictable) gets nothing: the kernel's peer pid must
    be a ``--standby`` of this very store, whatever pid it claims."""
    store = state / "jobs.sqlite3"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as squatter:
        squatter.bind(standby._address(store, "serve"))
        squatter.listen(1)
        answered = threading.Event()

        def answer() -> None:
            connection, _ = squatter.accept()
            answered.set()
            with connection, contextlib.suppress(OSError):  # the launcher may have left already
                connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")

        threading.Thread(target=answer, daemon=True).start()
        assert standby.hand_over(store, "job-1", state / "j.log", environ) is None
        assert answered.wait(5)


def test_a_standby_lets_go_of_the_store_before_it_answers_so_the_next_one_can_warm_up(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    store = state / "jobs.sqlite3"
    first = start(standbys, state, environ)
    first.wait_for("standby: ready")
    assert standby.hand_over(store, "job-1", state / "j.log", environ) == first.process.pid
    # What launch does next, at once: the next standby must be able to claim the store now.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as claim:
        claim.bind(standby._address(store, "claim"))
