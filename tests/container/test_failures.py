"""Failure file and exit codes: user errors exit 1, framework errors 2, never 0 after a failure."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from container import errors
from container.data import DataError
from container.train import main

TreeFactory = Callable[..., Any]


def _failure(paths: object) -> str:
    return paths.failure_file.read_text(encoding="utf-8")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tree", "first_line"),
    [
        ({"hyperparameters": {"num_leave": "8"}}, "unknown hyperparameter num_leave (valid: num_leaves"),
        ({"hyperparameters": {"num_leaves": "1.5"}}, "hyperparameter num_leaves='1.5' is not a whole number"),
        ({"train": None, "without_input_config": True}, "missing required channel 'train': no folder"),
        (
            {"input_config": {"validation": {}}},
            "missing required channel 'train' (input data config has validation)",
        ),
        ({"input_config": {"train": {}, "test": {}}}, "unexpected channel test"),
        (
            {"input_config": {"train": {"ContentType": "application/x-parquet"}}},
            "channel 'train' has content type 'application/x-parquet'",
        ),
        ({"resources": {"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}}, "runs on one instance"),
    ],
)
def test_user_errors_write_one_clear_line_and_exit_1(
    sagemaker_tree: TreeFactory, capsys: pytest.CaptureFixture[str], tree: dict, first_line: str
) -> None:
    layout = dict(tree)
    without_input_config = layout.pop("without_input_config", False)
    paths = sagemaker_tree(**layout)
    if without_input_config:
        paths.input_data_config_file.unlink()
    assert main(["train"]) == errors.USER_ERROR_EXIT
    failure = _failure(paths)
    assert first_line in failure.splitlines()[0]
    assert len(failure) <= 1024
    assert not paths.model_file.exists()
    stderr_lines = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("Failure reason: ")
    ]
    assert stderr_lines == ["Failure reason: " + failure.splitlines()[0]]


def test_bad_data_is_a_user_error_naming_file_and_line(
    sagemaker_tree: TreeFactory, passenger_factory: Callable[..., Any]
) -> None:
    broken = passenger_factory(50).astype(object)
    broken.loc[7, "Survived"] = 2
    paths = sagemaker_tree(train=broken)
    assert main(["train"]) == errors.USER_ERROR_EXIT
    reason = _failure(paths)
    assert "train/train.csv" in reason
    assert "'Survived'" in reason
    assert "line 9" in reason  # header is line 1, row 7 (0-based) is line 9


def test_one_class_train_channel_is_a_user_error(
    sagemaker_tree: TreeFactory, passenger_factory: Callable[..., Any]
) -> None:
    frame = passenger_factory(60)
    paths = sagemaker_tree(train=frame.assign(Survived=1), validation=None)
    assert main(["train"]) == errors.USER_ERROR_EXIT
    assert "only one class" in _failure(paths)


def test_too_many_cv_folds_fail_before_training(
    sagemaker_tree: TreeFactory, passenger_factory: Callable[..., Any]
) -> None:
    frame = passenger_factory(60)
    frame["Survived"] = [1] * 4 + [0] * 56
    paths = sagemaker_tree(train=frame, validation=None, hyperparameters={"cv_folds": "5"})
    assert main(["train"]) == errors.USER_ERROR_EXIT
    assert _failure(paths).startswith("cv_folds=5 needs at least 5 passengers of each class")
    assert not paths.checkpoint_dir.exists()  # nothing was trained


def test_bad_hyperparameters_json_is_a_user_error(sagemaker_tree: TreeFactory) -> None:
    paths = sagemaker_tree()
    paths.hyperparameters_file.write_text("{not json")
    assert main(["train"]) == errors.USER_ERROR_EXIT
    assert _failure(paths).startswith("hyperparameters.json is not valid JSON")


@pytest.mark.parametrize("argv", [["serve"], ["train", "extra"], ["fit"]])
def test_other_verbs_are_user_errors(sagemaker_tree: TreeFactory, argv: list[str]) -> None:
    paths = sagemaker_tree()
    assert main(argv) == errors.USER_ERROR_EXIT
    assert _failure(paths).startswith(f"unsupported command '{' '.join(argv)}'")


def test_framework_error_exits_2_with_prefix_and_traceback_tail(
    sagemaker_tree: TreeFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = sagemaker_tree(hyperparameters={"cv_folds": "0"})

    def broken_fit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("booster exploded\nsecond line")

    monkeypatch.setattr("container.model.fit_model", broken_fit)
    assert main(["train"]) == errors.FRAMEWORK_ERROR_EXIT
    failure = _failure(paths)
    assert failure.splitlines()[0] == "Framework error: RuntimeError: booster exploded second line"
    assert "Traceback" in failure
    assert len(failure) <= 1024
    assert (
        "Failure reason: Framework error: RuntimeError: booster exploded second line"
        in capsys.readouterr().err
    )


def test_success_removes_a_stale_failure_file(sagemaker_tree: TreeFactory) -> None:
    paths = sagemaker_tree(hyperparameters={"cv_folds": "0", "n_estimators": "20"})
    paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
    paths.failure_file.write_text("old failure")
    assert main(["train"]) == 0
    assert not paths.failure_file.exists()


def test_report_failure_cuts_long_reasons_and_never_returns_0(tmp_path: object) -> None:
    failure_file = tmp_path / "output" / "failure"  # type: ignore[operator]
    stream = io.StringIO()
    code = errors.report_failure(errors.UserError("x" * 5000), failure_file, stream)
    assert code == errors.USER_ERROR_EXIT
    assert len(failure_file.read_text()) == 1024
    assert errors.report_failure(DataError("bad.csv: the file is empty"), failure_file, stream) == 1
    assert failure_file.read_text() == "bad.csv: the file is empty"
    assert errors.report_failure(KeyError("k"), failure_file, stream) == errors.FRAMEWORK_ERROR_EXIT
    assert (
        errors.report_failure(errors.TrainingStopped("stopped"), failure_file, stream) == errors.STOPPED_EXIT
    )


def test_exit_codes_of_the_real_process(sagemaker_tree: TreeFactory, run_trainer: Callable[..., Any]) -> None:
    paths = sagemaker_tree(hyperparameters={"learning_rate": "fast"})
    bad = run_trainer(paths, "train")
    assert bad.returncode == 1
    assert "Failure reason: hyperparameter learning_rate='fast' is not a number" in bad.stderr
    assert "Traceback" not in bad.stderr

    paths.hyperparameters_file.write_text(json.dumps({"cv_folds": "0", "n_estimators": "30"}))
    good = run_trainer(paths, "train")
    assert good.returncode == 0, good.stderr
    assert not paths.failure_file.exists()
    assert paths.metrics_file.is_file()
