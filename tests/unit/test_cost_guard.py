"""The most a job can cost (max_run, or spot max_wait, x price x count) and the budget that refuses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.instance import cost, pricing
from services.jobs.store import JobStore
from services.settings import Settings, SettingsError

# The shipped snapshot's us-east-1 on-demand rate for ml.m5.large (a public record: $0.115/h).
M5_LARGE = pricing.load_snapshot("us-east-1").quote("ml.m5.large", False)


def test_maximum_is_max_run_times_price_times_count() -> None:
    ceiling = cost.maximum("ml.m5.large", 0.115, "test prices, 2026-11-26", 2, max_run_seconds=7200)
    assert ceiling.usd == pytest.approx(2 * 0.115 * 2)
    assert (ceiling.basis, ceiling.seconds, ceiling.price_source) == (
        "max_run",
        7200.0,
        "test prices, 2026-11-26",
    )


def test_spot_maximum_is_bounded_by_max_wait_not_max_run() -> None:
    ceiling = cost.maximum(
        "ml.m5.large", 0.115, "p", 1, max_run_seconds=3600, max_wait_seconds=10_800, spot=True
    )
    assert (ceiling.basis, ceiling.usd) == ("max_wait", pytest.approx(3 * 0.115))
    with pytest.raises(cost.CostError, match="spot training needs max_wait"):
        cost.maximum("ml.m5.large", 0.115, "p", max_run_seconds=3600, spot=True)


def test_budget_refusal_is_one_line_with_both_numbers(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", max_job_cost_usd=0.5)
    with pytest.raises(cost.BudgetExceededError) as caught:
        cost.check_budget(settings, "ml.m5.large", spot=False, max_run_seconds=36_000)
    message = str(caught.value)
    assert "\n" not in message
    assert "maximum cost $1.15" in message and "budget of $0.50" in message, message
    assert "max_run 36000 s x $0.115/h x 1 ml.m5.large" in message
    assert "TITANIC_SM_MAX_JOB_COST_USD" in message
    assert caught.value.ceiling.usd == pytest.approx(1.15) and caught.value.budget_usd == 0.5


def test_raising_the_budget_lets_the_same_launch_through(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", max_job_cost_usd=1.2)
    ceiling = cost.check_budget(settings, "ml.m5.large", spot=False, max_run_seconds=36_000)
    assert ceiling is not None and ceiling.usd == pytest.approx(1.15)
    unlimited = Settings(state_dir=tmp_path / "state", max_job_cost_usd=None)
    assert cost.check_budget(unlimited, "ml.m5.large", spot=False, max_run_seconds=432_000) is None


def test_spot_launch_is_judged_on_max_wait(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", max_job_cost_usd=0.3)
    # max_run alone (1 h, $0.115) fits; max_wait (3 h, $0.345) does not
    with pytest.raises(cost.BudgetExceededError, match=r"max_wait 10800 s"):
        cost.check_budget(settings, "ml.m5.large", spot=True, max_run_seconds=3600, max_wait_seconds=10_800)


def test_launch_cost_gives_expected_and_maximum_naming_the_price_source(tmp_path: Path) -> None:
    assert M5_LARGE is not None
    settings = Settings(state_dir=tmp_path / "state", max_job_cost_usd=0.1)
    found = cost.launch_cost(settings, "ml.m5.large", spot=False, max_run_seconds=3600)
    assert found.maximum is not None and found.maximum.usd == pytest.approx(M5_LARGE.usd_per_hour)
    assert found.maximum.price_source == f"{M5_LARGE.source}, {M5_LARGE.fetched}"
    assert found.budget_usd == 0.1 and found.over_budget  # $0.115 > $0.10
    # no job in this state dir: the expected figure comes from the shipped capacity probe
    assert found.expected is not None and found.expected_unknown == ""
    assert found.expected.seconds_source == "capacity probe (whole container run)"
    assert found.expected.usd < found.maximum.usd
    unknown = cost.launch_cost(settings, "ml.p5.4xlarge", spot=False, max_run_seconds=3600)
    assert unknown.maximum is None and "no training price for ml.p5.4xlarge" in unknown.maximum_unknown
    assert not unknown.over_budget


def test_budget_setting_parses_from_the_environment() -> None:
    assert Settings.from_env({}).max_job_cost_usd == 10.0
    assert Settings.from_env({"TITANIC_SM_MAX_JOB_COST_USD": "2.5"}).max_job_cost_usd == 2.5
    assert Settings.from_env({"TITANIC_SM_MAX_JOB_COST_USD": "none"}).max_job_cost_usd is None
    for bad in ("0", "-1", "ten", "inf"):
        with pytest.raises(SettingsError, match="TITANIC_SM_MAX_JOB_COST_USD must be a number"):
            Settings.from_env({"TITANIC_SM_MAX_JOB_COST_USD": bad})
    with pytest.raises(
        SettingsError, match=r"max_job_cost_usd \(TITANIC_SM_MAX_JOB_COST_USD\) must be above 0"
    ):
        Settings(max_job_cost_usd=0)


def test_cli_run_over_budget_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(state))
    monkeypatch.setenv("TITANIC_SM_MAX_JOB_COST_USD", "0.5")
    result = CliRunner().invoke(app, ["run", "--max-run", "36000", "--instance-type", "ml.m5.large"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: request: the job's maximum cost $1.15"), lines[0]
    assert "over the budget of $0.50" in lines[0]
    # refused before the stack, the data or the image: nothing was started or recorded
    assert not (state / "local-stack").exists()
    assert not JobStore(state / "jobs.sqlite3").path.exists()


def test_budget_setting_comes_from_the_config_file_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "titanic-sm.toml"
    config.write_text("max_job_cost_usd = 2.5\n")
    resolved = Settings.resolve({}, config)
    assert resolved.settings.max_job_cost_usd == 2.5
    assert resolved.sources["max_job_cost_usd"] == f"file {config}"
    config.write_text('max_job_cost_usd = "none"\n')  # no budget, said on purpose
    assert Settings.resolve({}, config).settings.max_job_cost_usd is None
    config.write_text("max_job_cost_usd = 2.5\n")
    overridden = Settings.resolve({"TITANIC_SM_MAX_JOB_COST_USD": "4"}, config)
    assert overridden.settings.max_job_cost_usd == 4.0
    assert overridden.sources["max_job_cost_usd"] == "env TITANIC_SM_MAX_JOB_COST_USD"
    config.write_text("max_job_cost_usd = true\n")
    with pytest.raises(SettingsError, match="max_job_cost_usd must be a number of US dollars"):
        Settings.resolve({}, config)


def test_cli_budget_refusal_is_korean_with_titanic_sm_lang_ko(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TITANIC_SM_MAX_JOB_COST_USD", "0.5")
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    result = CliRunner().invoke(app, ["run", "--max-run", "36000", "--instance-type", "ml.m5.large"])
    assert result.exit_code == 1, result.output
    [line] = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("오류: ") and "$1.15" in line and "$0.50" in line, line
    assert "budget" not in line and "maximum cost" not in line, line
