"""`titanic-sm predict` on the text format (model.txt + features.json): no job store record and no
--trust are needed, because nothing is unpickled; a crafted pickle riding along is never loaded;
a tampered text file is refused in one line; the predictions equal the pickled pipeline's."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from typer.testing import CliRunner

from container import data
from container.contract import FEATURES_FILE, METRICS_FILE, MODEL_FILE, MODEL_TEXT_FILE
from container.hyperparameters import parse
from container.model import fit_model, text_model_files
from services import dataset, predict
from services.cli import app

KAGGLE_TEST = (
    "PassengerId,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
    '892,3,"Kelly, Mr. James",male,34.5,0,0,330911,7.8292,,Q\n'
    '893,3,"Wilkes, Mrs. James (Ellen Needs)",female,47,1,0,363272,7,,S\n'
    '896,1,"Hirvonen, Mrs. Alexander",female,22,1,1,3101298,12.2875,B5,S\n'
    '900,3,"Abrahim, Mrs. Joseph",female,18,0,0,2657,,,C\n'
)


class _WritesMarker:
    """A pickle that creates a file when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], Any]:
    """The text files and the pipeline of a real (small) fit on titanic3."""
    prepared = dataset.prepare(out_dir=tmp_path_factory.mktemp("data"))
    train = pd.read_csv(prepared.train_path)
    hp = parse({"n_estimators": "40", "cv_folds": "0"})
    pipeline = fit_model(train, hp).pipeline
    return text_model_files(pipeline), pipeline


def _model_folder(folder: Path, files: dict[str, bytes], pickle_bytes: bytes | None = None) -> Path:
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    metrics: dict[str, Any] = {
        "schema_version": 1,
        "model_files_sha256": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
    }
    if pickle_bytes is not None:
        (folder / MODEL_FILE).write_bytes(pickle_bytes)
        metrics["model_sha256"] = hashlib.sha256(pickle_bytes).hexdigest()  # "matching", as an attacker
    (folder / METRICS_FILE).write_text(json.dumps(metrics))
    return folder


def _tar(folder: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    return target


def test_the_text_format_predicts_without_trust_and_never_unpickles_the_pickle_beside_it(
    trained: tuple[dict[str, bytes], Any], tmp_path: Path
) -> None:
    files, pipeline = trained
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    joblib.dump(_WritesMarker(marker), buffer)
    folder = _model_folder(tmp_path / "model", files, buffer.getvalue())
    archive = _tar(folder, tmp_path / "model.tar.gz")
    passengers = tmp_path / "test.csv"
    passengers.write_text(KAGGLE_TEST)
    for model in (folder, archive):
        out = tmp_path / f"submission-{model.name}.csv"
        # A real CLI call with an empty job store and no --trust.
        state = str(tmp_path / "state")
        command = ["--state-dir", state, "predict", "--model", str(model), "--input", str(passengers)]
        result = CliRunner().invoke(app, [*command, "--output", str(out), "--proba"])
        assert result.exit_code == 0, result.output
        assert "text format" in result.output and "warning" not in result.output
        assert not marker.exists(), "the pickle beside the text model was loaded"
        written = pd.read_csv(out)
        assert list(written["PassengerId"]) == [892, 893, 896, 900]
        frame = data.load_frame(KAGGLE_TEST.encode(), require_label=False, name="test.csv")
        expected = pipeline.predict_proba(frame.drop(columns=["Survived"], errors="ignore"))[:, 1]
        assert written["Probability"].to_numpy() == pytest.approx(expected.round(6), abs=1e-6)


@pytest.mark.parametrize("name", [MODEL_TEXT_FILE, FEATURES_FILE])
def test_a_tampered_text_file_is_refused_in_one_line(
    trained: tuple[dict[str, bytes], Any], tmp_path: Path, name: str
) -> None:
    files, _ = trained
    folder = _model_folder(tmp_path / "model", files)
    (folder / name).write_bytes(files[name].replace(b"1", b"2", 1))
    with pytest.raises(predict.ModelError, match=f"{name} sha256 .* does not match") as caught:
        predict.load_model(folder)
    assert "\n" not in str(caught.value)


def test_a_model_with_neither_format_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / METRICS_FILE).write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(predict.ModelError, match=r"has no model\.txt"):
        predict.load_model(folder)
