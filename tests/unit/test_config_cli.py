"""`titanic-sm config show|init`: every resolved value with where it came from, and a commented file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.settings import Settings


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TITANIC_SM_CONFIG", raising=False)  # read ./titanic-sm.toml, as a user would
    return tmp_path


def test_config_show_names_the_source_of_every_value(workdir: Path) -> None:
    (workdir / "titanic-sm.toml").write_text('bucket = "course-bucket"\nvolume_size_gb = 8\n')
    env = {"TITANIC_SM_PREFIX": "team-a"}
    result = CliRunner().invoke(app, ["--region", "eu-west-1", "config", "show", "--json"], env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["config_file"] == "titanic-sm.toml"
    values = shown["settings"]
    assert set(values) == set(Settings.__dataclass_fields__)
    assert values["region"] == {"value": "eu-west-1", "source": "flag"}
    assert values["prefix"] == {"value": "team-a", "source": "env TITANIC_SM_PREFIX"}
    assert values["bucket"] == {"value": "course-bucket", "source": "file titanic-sm.toml"}
    assert values["volume_size_gb"] == {"value": 8, "source": "file titanic-sm.toml"}
    assert values["network_isolation"] == {"value": True, "source": "default"}

    text = CliRunner().invoke(app, ["config", "show"], env=env)
    assert text.exit_code == 0
    assert re.search(r'^bucket +\= "course-bucket"  \[file titanic-sm\.toml\]$', text.output, re.MULTILINE)
    assert re.search(r"^aws_profile +\= \(unset\)  \[default\]$", text.output, re.MULTILINE)


def test_a_bad_config_file_is_one_line(workdir: Path) -> None:
    (workdir / "titanic-sm.toml").write_text('regoin = "us-east-1"\n')
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 1
    assert result.output == (
        "error: config file titanic-sm.toml: unknown key 'regoin' (keys are the settings' names, "
        "e.g. region, bucket)\n"
    )


def test_config_init_writes_a_commented_file_that_config_show_reads(workdir: Path) -> None:
    role = "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-20260123T111313"
    result = CliRunner().invoke(
        app,
        [
            "config",
            "init",
            "--target",
            "aws",
            "--bucket",
            "course-bucket",
            "--repository",
            "course-repo",
            "--role-arn",
            role,
        ],
    )
    assert result.exit_code == 0, result.output
    text = (workdir / "titanic-sm.toml").read_text()
    assert text.startswith("# titanic-sm settings. Order: CLI flags > TITANIC_SM_* variables > this file")
    assert "# the SageMaker execution role, e.g. one the console made" in text
    shown = json.loads(CliRunner().invoke(app, ["config", "show", "--json"]).output)["settings"]
    assert shown["target"] == {"value": "aws", "source": "file titanic-sm.toml"}
    assert shown["role_arn"] == {"value": role, "source": "file titanic-sm.toml"}
    assert shown["repository"]["value"] == "course-repo"
    assert shown["region"]["source"] == "default"  # commented out at its default
    again = CliRunner().invoke(app, ["config", "init"])
    assert again.exit_code == 1
    assert again.output == "error: titanic-sm.toml exists; pass --force to overwrite it\n"
