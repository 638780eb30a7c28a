"""`titanic-sm instances` on the local target: snapshot prices, sample quotas, JSON and markdown."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from services.cli import app
from services.instance.instances import training_instance_types

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TITANIC_SM_TARGET", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["instances", *args])


def test_json_holds_the_decision_with_sources(run: Run) -> None:
    result = run("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["on_demand"]["chosen"] == "ml.m5.large" and "spot" not in data
    assert data["sources"]["quotas"].startswith("sample quotas, 2026-11-26")
    rows = {row["instance_type"]: row for row in data["on_demand"]["candidates"]}
    assert rows["ml.t3.medium"]["exclusions"][0].startswith("quota 0")
    assert len(rows) == len(training_instance_types())  # every candidate, excluded ones too


def test_spot_markdown_names_the_purchase_option(run: Run) -> None:
    result = run("--spot")
    assert result.exit_code == 0, result.output
    assert "## Training instance for us-east-1 (spot)" in result.stdout
    assert "spot training quota" in result.stdout


def test_a_bad_region_is_one_line_and_exit_1(run: Run) -> None:
    result = run("--region", "Mars")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --region must look like us-east-1, not 'Mars'"


def test_a_region_without_snapshot_prices_warns(run: Run) -> None:
    result = run("--region", "eu-west-1", "--all")
    assert result.exit_code == 0
    assert "warning: the price snapshot has no prices for eu-west-1" in result.stderr
    assert "no price: not in the price snapshot for eu-west-1" in result.stdout
