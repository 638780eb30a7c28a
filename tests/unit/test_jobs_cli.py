"""`titanic-sm jobs` on the aws target when AWS cannot be reached: one line and exit 1, never a
traceback; a stop that SageMaker never received leaves the job as it was, to be tried again; and
a job store that cannot be opened is one line too."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from services.cli import app, main
from services.jobs import JobStore

Run = Callable[..., Result]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    store = JobStore(tmp_path / "state" / "jobs.sqlite3")
    job, _ = store.create(target="aws", job_name="titanic-unreachable")
    store.heartbeat(job.id, pid=1)  # a live worker, so no reader reaps it
    # SageMaker has the job, so a stop is a StopTrainingJob call (never a signal to a worker).
    store.update(job.id, training_job={"TrainingJobStatus": "InProgress"})
    store.set_status(job.id, "InProgress", secondary_status="Training")
    return store


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", unreachable)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TITANIC_SM_TARGET", "aws")
    monkeypatch.setenv("TITANIC_SM_BUCKET", "titanic-sm-unreachable")
    monkeypatch.setenv("TITANIC_SM_ROLE_ARN", "arn:aws:iam::123456789012:role/titanic-sm-exec")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["jobs", *args])


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (("list",), "reconciling with SageMaker"),
        (("logs", "titanic-unreachable"), "reading /aws/sagemaker/TrainingJobs"),
        (("stop", "titanic-unreachable"), "stopping titanic-unreachable"),
    ],
)
def test_unreachable_aws_is_one_line_naming_the_step(
    run: Run, store: JobStore, command: tuple[str, ...], what: str
) -> None:
    result = run(*command)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {what}: "), result.stderr
    assert "Could not connect to the endpoint URL" in lines[0]


def test_a_stop_sagemaker_never_received_can_be_tried_again(run: Run, store: JobStore) -> None:
    assert run("stop", "titanic-unreachable").exit_code == 1
    job = store.get("titanic-unreachable")
    assert (job.status, job.secondary_status) == ("InProgress", "Training")


@pytest.mark.parametrize("broken", ["a file as the state dir", "not a database"])
def test_a_job_store_that_cannot_be_opened_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    state_dir = tmp_path / "state"
    if broken == "a file as the state dir":
        state_dir.write_text("")
    else:
        state_dir.mkdir()
        (state_dir / "jobs.sqlite3").write_text("garbage")
    monkeypatch.setattr("sys.argv", ["titanic-sm", "--state-dir", str(state_dir), "jobs", "list"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: the job store {state_dir / 'jobs.sqlite3'} "), (
        lines
    )
