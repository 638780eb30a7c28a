"""A full training run on a temp /opt/ml tree writes the model (the safe text format and the pickle)
and metrics.json in the agreed schema."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import joblib
import pandas as pd
import pytest

from container.contract import FEATURES_FILE, MODEL_TEXT_FILE
from container.hyperparameters import SCHEMA
from container.metrics import METRIC_NAMES
from container.model import TextModelError, load_text_model
from container.train import main

TreeFactory = Callable[..., Any]
TOP_LEVEL_KEYS = {
    "schema_version",
    "validation",
    "cv",
    "feature_importance",
    "hyperparameters",
    "rows",
    "data_sha256",
    "versions",
    "training_seconds",
    "best_iteration",
    "model_sha256",
    "model_files_sha256",
    "resumed_from_checkpoint",
}
SCORE_KEYS = {"accuracy", "roc_auc", "f1", "log_loss"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_full_run_writes_model_and_metrics_in_schema(
    sagemaker_tree: TreeFactory, capsys: pytest.CaptureFixture[str], validation_passengers: pd.DataFrame
) -> None:
    paths = sagemaker_tree(
        hyperparameters={"cv_folds": "3", "n_estimators": "120", "num_leaves": "6", "sagemaker_region": '"x"'}
    )
    assert main(["train"]) == 0
    stdout = capsys.readouterr().out
    metrics = json.loads(paths.metrics_file.read_text())

    assert set(metrics) == TOP_LEVEL_KEYS
    assert metrics["schema_version"] == 1
    validation = metrics["validation"]
    assert SCORE_KEYS | {"confusion_matrix", "roc_curve"} == set(validation)
    matrix = validation["confusion_matrix"]
    assert sum(map(sum, matrix)) == len(validation_passengers)
    assert len(validation["roc_curve"]["fpr"]) == len(validation["roc_curve"]["tpr"]) <= 101
    assert validation["roc_auc"] > 0.7  # the synthetic signal is strong: a broken model scores ~0.5

    cv = metrics["cv"]
    assert cv["folds"] == 3
    for score in SCORE_KEYS:
        assert set(cv[score]) == {"mean", "std", "per_fold"}
        assert len(cv[score]["per_fold"]) == 3
        assert cv[score]["mean"] == pytest.approx(sum(cv[score]["per_fold"]) / 3)

    importance = metrics["feature_importance"]
    gains = [item["gain"] for item in importance]
    assert gains == sorted(gains, reverse=True)
    assert {"is_female", "title", "group_survival"} <= {item["feature"] for item in importance}

    # Effective values: the given ones typed, the rest at their defaults; platform keys left out.
    effective = metrics["hyperparameters"]
    assert set(effective) == {spec.name for spec in SCHEMA}
    assert effective["n_estimators"] == 120 and effective["num_leaves"] == 6 and effective["cv_folds"] == 3
    assert effective["learning_rate"] == next(s.default for s in SCHEMA if s.name == "learning_rate")

    assert metrics["rows"] == {"train": 400, "validation": len(validation_passengers)}
    train_csv = paths.channel_dir("train") / "train.csv"
    assert metrics["data_sha256"]["train"] == {"train.csv": _sha256(train_csv.read_bytes())}
    assert list(metrics["data_sha256"]["validation"]) == ["validation.csv"]
    assert set(metrics["versions"]) == {"python", "lightgbm", "scikit-learn", "pandas", "numpy"}
    assert metrics["training_seconds"] > 0
    assert 1 <= metrics["best_iteration"] <= 120
    assert metrics["resumed_from_checkpoint"] is False

    model_bytes = paths.model_file.read_bytes()
    assert metrics["model_sha256"] == _sha256(model_bytes)
    pipeline = joblib.load(paths.model_file)
    unlabelled = validation_passengers.drop(columns=["Survived"])
    assert pipeline.predict_proba(unlabelled).shape == (len(unlabelled), 2)

    printed = {
        line.split("=")[0] for line in stdout.splitlines() if "=" in line and ":" in line.split("=")[0]
    }
    assert set(METRIC_NAMES) <= printed


def test_train_only_with_cv_off_and_several_files(
    sagemaker_tree: TreeFactory, passenger_factory: Callable[..., pd.DataFrame]
) -> None:
    paths = sagemaker_tree(hyperparameters={"cv_folds": "0", "n_estimators": "40"}, validation=None)
    # A channel may hold several CSVs: they are read together.
    extra = passenger_factory(100, seed=5, first_id=5_001)
    extra.to_csv(paths.channel_dir("train") / "more.csv", index=False)
    assert main(["train"]) == 0
    metrics = json.loads(paths.metrics_file.read_text())
    assert metrics["validation"] is None
    assert metrics["cv"] is None
    assert metrics["rows"] == {"train": 500, "validation": 0}
    assert sorted(metrics["data_sha256"]["train"]) == ["more.csv", "train.csv"]
    assert metrics["data_sha256"]["validation"] == {}
    assert metrics["best_iteration"] == 40  # no validation channel: no early stopping


def test_early_stopping_uses_the_validation_channel(sagemaker_tree: TreeFactory) -> None:
    paths = sagemaker_tree(
        hyperparameters={
            "cv_folds": "0",
            "n_estimators": "2000",
            "learning_rate": "0.3",
            "early_stopping_rounds": "5",
        }
    )
    assert main(["train"]) == 0
    metrics = json.loads(paths.metrics_file.read_text())
    assert metrics["best_iteration"] < 2000


@pytest.mark.parametrize(
    "hyperparameters",
    [
        {"cv_folds": "0", "n_estimators": "60"},
        # Early stopping: the text model must hold the best iteration, as predict_proba uses it.
        {"cv_folds": "0", "n_estimators": "2000", "learning_rate": "0.3", "early_stopping_rounds": "5"},
        {"cv_folds": "0", "n_estimators": "30", "group_survival": "False"},
    ],
    ids=["plain", "early-stopped", "no-group-survival"],
)
def test_the_text_model_predicts_what_the_pipeline_predicts_without_unpickling(
    sagemaker_tree: TreeFactory,
    validation_passengers: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    hyperparameters: dict[str, str],
) -> None:
    paths = sagemaker_tree(hyperparameters=hyperparameters)
    assert main(["train"]) == 0
    metrics = json.loads(paths.metrics_file.read_text())
    text = (paths.model_dir / MODEL_TEXT_FILE).read_bytes()
    state = (paths.model_dir / FEATURES_FILE).read_bytes()
    assert metrics["model_files_sha256"] == {MODEL_TEXT_FILE: _sha256(text), FEATURES_FILE: _sha256(state)}
    assert text.startswith(b"tree\n")  # LightGBM's own text format, not a pickle
    json.loads(state)
    unlabelled = validation_passengers.drop(columns=["Survived"])
    expected = joblib.load(paths.model_file).predict_proba(unlabelled)

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the text model must not unpickle anything")

    monkeypatch.setattr("pickle.loads", no_unpickling)
    monkeypatch.setattr("pickle.load", no_unpickling)
    monkeypatch.setattr(joblib, "load", no_unpickling)
    model = load_text_model(text, state)
    assert model.predict_proba(unlabelled) == pytest.approx(expected, abs=1e-12)


def test_a_text_model_from_other_features_is_refused(sagemaker_tree: TreeFactory) -> None:
    paths = sagemaker_tree(hyperparameters={"cv_folds": "0", "n_estimators": "20"})
    assert main(["train"]) == 0
    text = (paths.model_dir / MODEL_TEXT_FILE).read_bytes()
    state = json.loads((paths.model_dir / FEATURES_FILE).read_text())
    with pytest.raises(TextModelError, match="other features"):
        load_text_model(text, json.dumps({**state, "feature_names": ["pclass"]}).encode())
    with pytest.raises(TextModelError, match="format"):
        load_text_model(text, json.dumps({**state, "format": "pickle"}).encode())
    with pytest.raises(TextModelError, match="malformed"):
        load_text_model(text, json.dumps({**state, "group_labels": {"t:X": "oops"}}).encode())
    with pytest.raises(TextModelError, match="not a LightGBM model"):
        load_text_model(b"\x80\x04not a model", json.dumps(state).encode())
