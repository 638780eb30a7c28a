"""A crafted model never runs: `titanic-sm predict` refuses, before unpickling, any model.joblib
that no job of this project recorded, however its archive vouches for itself.

The payload creates a file when unpickled; each case checks that file never appears, that the
user sees one line naming the cause, and that no submission is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path
from typing import Any

import pytest
from cli_home import CliHome

from services.jobs.store import JobStore

KAGGLE_TEST = (
    "PassengerId,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
    '892,3,"Kelly, Mr. James",male,34.5,0,0,330911,7.8292,,Q\n'
)


class _CreatesFile:
    """Unpickling this calls Path.touch(marker): proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _metrics_for(model: bytes) -> bytes:
    """The metrics.json trick: the archive carries the matching hash of its own payload."""
    return json.dumps({"schema_version": 1, "model_sha256": hashlib.sha256(model).hexdigest()}).encode()


def _tarball(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def payload(cli_home: CliHome) -> tuple[bytes, Path]:
    marker = cli_home.root / "pwned"
    evil = pickle.dumps(_CreatesFile(marker))
    pickle.loads(evil)  # the payload really runs when unpickled...
    assert marker.exists()
    marker.unlink()  # ...so its absence below means it was never unpickled
    return evil, marker


@pytest.fixture
def recorded_benign(cli_home: CliHome) -> bytes:
    """A harmless pickle whose sha256 a job of this project recorded (as the verify stage does)."""
    benign = pickle.dumps({"not": "a classifier"})
    store = JobStore(cli_home.settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-recorded")
    store.update(job.id, model_sha256=hashlib.sha256(benign).hexdigest())
    return benign


def _folder(root: Path, model: bytes) -> Path:
    folder = root / "model"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(model)
    (folder / "metrics.json").write_bytes(_metrics_for(model))
    return folder


def _predict(cli_home: CliHome, model: Path) -> tuple[int, str, str]:
    (cli_home.root / "test.csv").write_text(KAGGLE_TEST)
    result = cli_home.run("predict", "--model", str(model), "--input", "test.csv", "--output", "out.csv")
    return result.returncode, result.stdout, result.stderr


def _assert_refused(cli_home: CliHome, marker: Path, model: Path, cause: str) -> None:
    code, stdout, stderr = _predict(cli_home, model)
    assert (code, stdout) == (1, ""), (code, stdout, stderr)
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert cause in stderr, stderr
    assert not marker.exists(), "the crafted pickle ran"
    assert not (cli_home.root / "out.csv").exists()


NOT_RECORDED = "was not trained and recorded by this project"


def test_a_crafted_model_folder_with_its_own_matching_hash_is_refused(
    cli_home: CliHome, payload: tuple[bytes, Path], recorded_benign: bytes
) -> None:
    evil, marker = payload
    _assert_refused(cli_home, marker, _folder(cli_home.root, evil), NOT_RECORDED)


def test_a_crafted_model_tar_gz_is_refused(cli_home: CliHome, payload: tuple[bytes, Path]) -> None:
    evil, marker = payload
    archive = _tarball(
        cli_home.root / "model.tar.gz", [("model.joblib", evil), ("metrics.json", _metrics_for(evil))]
    )
    _assert_refused(cli_home, marker, archive, NOT_RECORDED)


@pytest.mark.parametrize("names", [("model.joblib", "model.joblib"), ("model.joblib", "./model.joblib")])
@pytest.mark.parametrize("evil_first", [False, True])
def test_a_doubled_member_beside_a_recorded_model_is_refused(
    cli_home: CliHome,
    payload: tuple[bytes, Path],
    recorded_benign: bytes,
    names: tuple[str, str],
    evil_first: bool,
) -> None:
    """One member passes the check, the other would be loaded: the archive is refused outright."""
    evil, marker = payload
    models = [evil, recorded_benign] if evil_first else [recorded_benign, evil]
    archive = _tarball(
        cli_home.root / "twice.tar.gz",
        [(names[0], models[0]), ("metrics.json", _metrics_for(recorded_benign)), (names[1], models[1])],
    )
    _assert_refused(cli_home, marker, archive, "model.joblib appears twice in the archive; refusing it")


def test_trust_is_explicit_and_warns(cli_home: CliHome, payload: tuple[bytes, Path]) -> None:
    """--trust does unpickle (that is its meaning), after a warning that says so."""
    evil, marker = payload
    (cli_home.root / "test.csv").write_text(KAGGLE_TEST)
    folder = _folder(cli_home.root, evil)
    result = cli_home.run(
        "predict", "--model", str(folder), "--input", "test.csv", "--output", "out.csv", "--trust"
    )
    assert result.stderr.startswith("warning: --trust: ") and "runs any code" in result.stderr
    assert marker.exists()  # the user asked for it: the payload ran, and is then no classifier
    assert result.returncode == 1 and "holds a" in result.stderr.splitlines()[-1]
