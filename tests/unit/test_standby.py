"""The warm worker (services.training.standby) as real processes: a standby takes one job from a
launcher with its own stamp and runs it as that job's worker; anything else spawns as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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
        lambda job_id: state / f"{job_id}.log",
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
                [sys.executable, str(driver), str(state), str(idle), str(self.stack_gone), "--standby"],
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
    pid = standby.hand_over(state / "jobs.sqlite3", "job-1", {**environ, "COLUMNS": "33"})
    assert pid == one.process.pid
    assert one.exit_code() == 7  # the worker's own exit code
    ran = json.loads((state / "ran.json").read_text())
    assert ran["job"] == "job-1"
    # ps shows it as a worker spawned for the job: --standby became the job id.
    assert ran["cmdline"].split()[-1] == "job-1"
    assert "--standby" not in ran["cmdline"]
    # From the hand-over on, it writes where that job's worker writes.
    assert "worker for job-1" in (state / "job-1.log").read_text()
    assert "worker for job-1" not in one.text()
    assert "warming" in one.text()


def test_a_launcher_with_other_settings_is_declined_and_the_standby_makes_room(
    state: Path, environ: dict[str, str], standbys: list[Standby]
) -> None:
    one = start(standbys, state, environ)
    one.wait_for("standby: ready")
    other = {**environ, "TITANIC_SM_BUCKET": "another-bucket"}
    assert standby.hand_over(state / "jobs.sqlite3", "job-1", other) is None
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
    assert standby.hand_over(state / "jobs.sqlite3", "job-2", environ) == first.process.pid


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
    assert standby.hand_over(state / "jobs.sqlite3", "job-1", environ) is None  # nobody listens


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
