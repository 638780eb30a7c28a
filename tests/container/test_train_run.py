"""A full training run on a temp /opt/ml tree writes model.joblib and metrics.json in the agreed schema."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import joblib
import pandas as pd
import pytest

from container.hyperparameters import SCHEMA
from container.metrics import METRIC_NAMES
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
