"""The hyperparameter parsing matrix: strings as SageMaker writes them -> typed, checked values."""

from __future__ import annotations

from typing import Any

import pytest

from container import hyperparameters as hp
from container.errors import UserError


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("group_survival", "True", True),
        ("group_survival", "true", True),
        ("group_survival", "1", True),
        ("group_survival", "yes", True),
        ("group_survival", "False", False),
        ("group_survival", "false", False),
        ("group_survival", "0", False),
        ("group_survival", " FALSE ", False),
        ("num_leaves", "31", 31),
        ("num_leaves", "+4", 4),
        ("n_estimators", "1", 1),
        ("learning_rate", "0.1", 0.1),
        ("learning_rate", "1e-2", 0.01),
        ("learning_rate", "1", 1.0),
        ("reg_lambda", "0", 0.0),
        ("cv_folds", "0", 0),
        ("cv_folds", "2", 2),
        ("seed", "7", 7),
        ("round_delay_seconds", "0.25", 0.25),
        # Framework estimators json.dumps() values, so strings can arrive quoted.
        ("num_leaves", '"16"', 16),
        # A hand-written hyperparameters.json may hold JSON numbers and booleans.
        ("num_leaves", 12, 12),
        ("group_survival", False, False),
        ("learning_rate", 0.2, 0.2),
    ],
)
def test_valid_values_parse_to_their_type(key: str, raw: Any, expected: Any) -> None:
    values = hp.parse({key: raw})
    assert values[key] == expected
    assert type(values[key]) is type(expected)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("num_leaves", "1.5", "num_leaves='1.5' is not a whole number"),
        ("num_leaves", "eight", "not a whole number"),
        ("num_leaves", "", "not a whole number"),
        ("num_leaves", "1", "out of range [2, 256]"),
        ("num_leaves", "257", "out of range [2, 256]"),
        ("learning_rate", "fast", "not a number"),
        ("learning_rate", "nan", "finite"),
        ("learning_rate", "inf", "finite"),
        ("learning_rate", "0", "out of range [0.001, 1]"),
        ("feature_fraction", "1.5", "out of range"),
        ("n_estimators", "0", "out of range"),
        ("group_survival", "maybe", "group_survival='maybe' is not a boolean"),
        ("group_survival", "2", "not a boolean"),
        ("cv_folds", "1", "cv_folds=1 is not a cross-validation"),
        ("cv_folds", "21", "out of range"),
        ("early_stopping_rounds", "-1", "out of range"),
        ("round_delay_seconds", "60", "out of range"),
    ],
)
def test_bad_values_are_user_errors_naming_the_key(key: str, raw: str, message: str) -> None:
    with pytest.raises(hp.HyperparameterError, match="hyperparameter") as caught:
        hp.parse({key: raw})
    assert message in str(caught.value)
    assert isinstance(caught.value, UserError)
    assert "\n" not in str(caught.value)


def test_unknown_key_is_named_with_the_valid_ones() -> None:
    with pytest.raises(hp.HyperparameterError) as caught:
        hp.parse({"num_leave": "8", "learning_rate": "0.1"})
    message = str(caught.value)
    assert message.startswith("unknown hyperparameter num_leave ")
    for spec in hp.SCHEMA:
        assert spec.name in message


def test_defaults_fill_what_is_not_given() -> None:
    values = hp.parse({"num_leaves": "16"})
    assert values["num_leaves"] == 16
    for spec in hp.SCHEMA:
        if spec.name != "num_leaves":
            assert values[spec.name] == spec.default


def test_platform_keys_are_listed_and_left_out() -> None:
    raw = {
        "sagemaker_job_name": '"job-1"',
        "sagemaker_region": '"us-east-1"',
        "_tuning_objective_metric": "validation:auc",
        "seed": "3",
    }
    assert hp.platform_keys(raw) == ["_tuning_objective_metric", "sagemaker_job_name", "sagemaker_region"]
    values = hp.parse(raw)
    assert values["seed"] == 3
    assert set(values) == {spec.name for spec in hp.SCHEMA}


def test_schema_is_consistent() -> None:
    names = [spec.name for spec in hp.SCHEMA]
    assert len(names) == len(set(names))
    required = {
        "num_leaves",
        "learning_rate",
        "n_estimators",
        "min_child_samples",
        "feature_fraction",
        "bagging_fraction",
        "reg_lambda",
        "early_stopping_rounds",
        "cv_folds",
        "seed",
        "group_survival",
        "checkpoint_every",
    }
    assert required <= set(names)
    for spec in hp.SCHEMA:
        assert spec.help
        # Every default survives its own parser, from the string SageMaker would send.
        assert spec.parse(str(spec.default)) == spec.default


def test_to_sagemaker_round_trips_through_parse() -> None:
    chosen = {"group_survival": False, "learning_rate": 0.05, "num_leaves": 12}
    sent = hp.to_sagemaker(chosen)
    assert sent == {"group_survival": "False", "learning_rate": "0.05", "num_leaves": "12"}
    assert all(isinstance(value, str) for value in sent.values())
    parsed = hp.parse(sent)
    assert {key: parsed[key] for key in chosen} == chosen


def test_to_sagemaker_rejects_what_the_container_would() -> None:
    with pytest.raises(hp.HyperparameterError, match="out of range"):
        hp.to_sagemaker({"num_leaves": 1})
    with pytest.raises(hp.HyperparameterError, match="unknown hyperparameter"):
        hp.to_sagemaker({"leaves": 8})


def test_changed_keeps_only_what_differs_from_the_defaults() -> None:
    values = hp.defaults()
    assert hp.changed(values) == {}
    values.update(num_leaves=7, group_survival=False)
    assert hp.changed(values) == {"num_leaves": 7, "group_survival": False}
    # A key the schema does not know is kept, so the launch's validation names it.
    assert hp.changed({"num_leaf": 7}) == {"num_leaf": 7}
