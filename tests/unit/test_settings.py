"""The one settings object: built from TITANIC_SM_* variables and flags, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.settings import Settings, SettingsError


def test_defaults_are_the_local_target() -> None:
    settings = Settings.from_env({})
    assert settings.is_local
    assert settings.state_dir == Path(".state")
    assert settings.job_store_path == Path(".state/jobs.sqlite3")
    assert settings.s3_uri("datasets", "v1/") == "s3://titanic-sm-local/titanic/datasets/v1"


def test_variables_are_typed_and_flags_win() -> None:
    env = {
        "TITANIC_SM_REGION": "eu-central-1",
        "TITANIC_SM_USE_SPOT": "True",
        "TITANIC_SM_MAX_RUN_SECONDS": "900",
        "TITANIC_SM_MAX_WAIT_SECONDS": "1800",
        "TITANIC_SM_STATE_DIR": "/tmp/x",
    }
    settings = Settings.from_env(env, region="ap-south-1", state_dir="/tmp/y")
    assert settings.region == "ap-south-1"
    assert settings.use_spot is True
    assert (settings.max_run_seconds, settings.max_wait_seconds) == (900, 1800)
    assert settings.state_dir == Path("/tmp/y")


def test_hyperparameters_come_as_key_value_pairs() -> None:
    env = {"TITANIC_SM_HYPERPARAMETERS": "num_leaves=7, learning_rate=0.05"}
    assert Settings.from_env(env).hyperparameters == {"num_leaves": "7", "learning_rate": "0.05"}


def test_an_empty_variable_means_not_set() -> None:
    env = {"TITANIC_SM_INSTANCE_COUNT": "", "TITANIC_SM_MAX_RUN_SECONDS": "", "TITANIC_SM_REGION": ""}
    assert Settings.from_env(env) == Settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TITANIC_SM_TARGET": "gcp"}, r"target \(TITANIC_SM_TARGET\) must be 'local' or 'aws'"),
        ({"TITANIC_SM_INSTANCE_COUNT": "two"}, "TITANIC_SM_INSTANCE_COUNT must be a whole number"),
        ({"TITANIC_SM_INSTANCE_COUNT": "0"}, r"\(TITANIC_SM_INSTANCE_COUNT\) must be at least 1"),
        ({"TITANIC_SM_MAX_RUN_SECONDS": "0"}, r"\(TITANIC_SM_MAX_RUN_SECONDS\) must be at least 1"),
        ({"TITANIC_SM_USE_SPOT": "maybe"}, "TITANIC_SM_USE_SPOT must be true or false"),
        ({"TITANIC_SM_HYPERPARAMETERS": "num_leaves"}, "must be KEY=VALUE pairs"),
        ({"TITANIC_SM_TARGET": "aws"}, "target 'aws' needs a bucket"),
        ({"TITANIC_SM_TARGET": "aws", "TITANIC_SM_BUCKET": "b-1"}, "needs an execution role"),
    ],
)
def test_bad_settings_are_one_line_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as error:
        Settings.from_env(env)
    assert "\n" not in str(error.value)
