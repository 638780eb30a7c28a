"""The budget guard where every launch passes: launch.record_job (the dashboard's Launch and
`titanic-sm run`). Over max_job_cost_usd nothing is recorded; a raised budget lets it through."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.instance import cost
from services.jobs.store import JobStore
from services.settings import Settings
from services.training import launch

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/titanic-training@sha256:" + "cd" * 32


def _request(settings: Settings, **changes: object) -> launch.LaunchRequest:
    base = launch.LaunchRequest(
        channels={"train": settings.s3_uri("datasets", "v1", "train") + "/"},
        instance_type="ml.m5.large",
        max_run_seconds=36_000,  # 10 h x $0.115/h = $1.15
        image_uri=IMAGE,
        request_key="budget-test",
    )
    return replace(base, **changes)  # type: ignore[arg-type]  # the changes are Settings fields with values of their types


def test_a_launch_over_the_budget_is_refused_and_records_nothing(settings: Settings) -> None:
    tight = replace(settings, max_job_cost_usd=1.0)
    with pytest.raises(cost.BudgetExceededError, match=r"maximum cost \$1\.15 .* budget of \$1\.00"):
        launch.launch(tight, _request(tight))
    assert JobStore(tight.job_store_path).page().total == 0


def test_raising_the_budget_records_the_same_launch(settings: Settings) -> None:
    raised = replace(settings, max_job_cost_usd=1.2)
    job, created = launch.record_job(raised, _request(raised))
    assert created and job.status == "Pending" and job.instance_type == "ml.m5.large"


def test_spot_launch_is_judged_on_max_wait(settings: Settings) -> None:
    tight = replace(settings, max_job_cost_usd=0.5)
    spot = _request(tight, use_spot=True, max_run_seconds=3600, max_wait_seconds=36_000)
    with pytest.raises(cost.BudgetExceededError, match="max_wait 36000 s"):
        launch.record_job(tight, spot)
    job, _ = launch.record_job(tight, replace(spot, max_wait_seconds=7200))  # $0.23
    assert job.use_spot
