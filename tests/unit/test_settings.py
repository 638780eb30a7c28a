"""The one settings object: built from TITANIC_SM_* variables and flags, with one-line errors."""

from __future__ import annotations

import re
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


# --- the config file, the order of sources, and where each value came from ----------------------


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "titanic-sm.toml"
    path.write_text(text)
    return path


def test_order_is_flag_then_env_then_file_then_default(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'region = "eu-west-1"\nbucket = "from-file"\nrepository = "file-repo"\nvolume_size_gb = 10\n'
        'network_isolation = false\n[tags]\nteam = "ml"\ncourse = 2026\n',
    )
    env = {"TITANIC_SM_BUCKET": "from-env", "TITANIC_SM_REGION": "eu-central-1"}
    resolved = Settings.resolve(env, path, region="ap-south-1")
    settings = resolved.settings
    assert settings.region == "ap-south-1"
    assert settings.bucket == "from-env"
    assert settings.repository == "file-repo"
    assert settings.volume_size_gb == 10
    assert settings.network_isolation is False
    assert settings.tags == {"team": "ml", "course": "2026"}
    assert settings.prefix == "titanic"
    assert resolved.sources["region"] == "flag"
    assert resolved.sources["bucket"] == "env TITANIC_SM_BUCKET"
    assert resolved.sources["repository"] == f"file {path}"
    assert resolved.sources["prefix"] == "default"
    assert {name for name, _, _ in resolved.rows()} == set(Settings.__dataclass_fields__)


def test_network_isolation_is_on_by_default_and_base_job_name_is_the_prefix() -> None:
    settings = Settings.from_env({})
    assert settings.network_isolation is True
    assert settings.job_name_base == "titanic"
    assert Settings(base_job_name="team-a").job_name_base == "team-a"


def test_the_config_file_is_found_by_variable_or_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, 'prefix = "course"\n')
    assert Settings.from_env({"TITANIC_SM_CONFIG": str(path)}).prefix == "course"
    # An explicit environ reads no file of the working directory (tests stay hermetic) ...
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).prefix == "titanic"
    # ... the process environment does.
    monkeypatch.delenv("TITANIC_SM_CONFIG", raising=False)
    resolved = Settings.resolve()
    assert resolved.settings.prefix == "course"
    assert resolved.config_file == Path("titanic-sm.toml")


def test_tags_come_as_key_value_pairs_from_the_environment() -> None:
    assert Settings.from_env({"TITANIC_SM_TAGS": "team=ml, cost-center=42"}).tags == {
        "team": "ml",
        "cost-center": "42",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('regoin = "us-east-1"\n', r"unknown key 'regoin' \(keys are the settings' names"),
        ('regoin = "x"\nbuckt = "y"\n', "unknown keys 'buckt', 'regoin'"),
        ('instance_count = "2"\n', "instance_count must be a whole number, not '2'"),
        ('use_spot = "yes"\n', "use_spot must be true or false"),
        ("bucket = 3\n", "bucket must be a string"),
        ('tags = "a=b"\n', r"tags must be a table"),
        ("region = \n", "is not valid TOML"),
        ('base_job_name = "bad_name"\n', "base_job_name .* must be 1-40 letters"),
        ('[tags]\n"aws:x" = "1"\n', "may not start with 'aws:'"),
        ("volume_size_gb = 0\n", r"volume_size_gb \(TITANIC_SM_VOLUME_SIZE_GB\) must be at least 1"),
    ],
)
def test_bad_config_files_are_one_line_naming_the_cause(tmp_path: Path, text: str, message: str) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(SettingsError, match=message) as error:
        Settings.from_env({}, path)
    assert "\n" not in str(error.value)


def test_a_named_config_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"config file .*nope\.toml does not exist"):
        Settings.from_env({}, tmp_path / "nope.toml")


def test_config_init_writes_a_file_that_reads_back_as_the_same_settings(tmp_path: Path) -> None:
    from services import config

    values = {
        "target": "aws",
        "region": "us-east-1",
        "bucket": "course-bucket",
        "role_arn": "arn:aws:iam::111122223333:role/service-role/"
        "AmazonSageMaker-ExecutionRole-20260123T111313",
        "tags": {"course": "mlops"},
    }
    text = config.render_toml(values, ["account 111122223333"])
    path = _config(tmp_path, text)
    settings = Settings.from_env({}, path)
    assert (settings.target, settings.bucket, settings.role_arn) == (
        "aws",
        "course-bucket",
        values["role_arn"],
    )
    assert settings.tags == {"course": "mlops"}
    # Every other setting is there, commented out at its default, with a comment above it.
    for name in Settings.__dataclass_fields__:
        assert re.search(rf"^#? ?\[?{name}\b", text, re.MULTILINE), name
    assert settings.repository == Settings.repository
    assert "# discovered: account 111122223333" in text
