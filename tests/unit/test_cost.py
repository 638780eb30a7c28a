"""Cost before launch, after an AWS job, spot savings, and local jobs priced as the instance."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.instance import capacity, cost
from services.jobs.store import JobStore
from services.settings import Settings


@dataclass
class FakeJob:
    status: str
    instance_type: str
    training_seconds: float | None
    created_at: float
    dataset_version: str = "v1"


def probe_run(**changes: Any) -> capacity.ProbeResult:
    """A completed measuring run of 36 s; ``changes`` make it a proof run or a failed one."""
    measured = capacity.ProbeResult(
        image="img",
        cpus=2.0,
        memory_limit_bytes=8 * 2**30,
        completed=True,
        exit_code=0,
        wall_seconds=3.0,
        docker_seconds=36.0,
        peak_memory_bytes=2**27,
        cgroup="v1",
        measured_at="2026-11-26T06:00:00+00:00",
    )
    return dataclasses.replace(measured, **changes)


def test_estimate_prefers_the_last_comparable_job_over_the_probe() -> None:
    est = cost.estimate("ml.m5.large", 0.115, "snapshot", 2, previous_job_seconds=360, probe_seconds=10)
    assert est.seconds_source == "last comparable completed job"
    assert est.usd == pytest.approx(360 / 3600 * 0.115 * 2)


def test_estimate_falls_back_to_the_probe_and_needs_some_duration() -> None:
    est = cost.estimate("ml.m5.large", 0.115, "snapshot", probe_seconds=36)
    assert est.seconds_source == "capacity probe (whole container run)" and est.usd == pytest.approx(0.00115)
    with pytest.raises(cost.CostError, match="no duration"):
        cost.estimate("ml.m5.large", 0.115, "snapshot")
    with pytest.raises(cost.CostError, match="instance count"):
        cost.estimate("ml.m5.large", 0.115, "snapshot", 0, probe_seconds=1)


def test_actual_cost_and_spot_savings() -> None:
    on_demand = cost.actual(1800, 0.23, 1, training_seconds=1800)
    assert on_demand.usd == pytest.approx(0.115) and on_demand.spot_savings is None
    spot = cost.actual(540, 0.23, 2, training_seconds=1800, spot=True)
    assert spot.usd == pytest.approx(540 / 3600 * 0.23 * 2)
    assert spot.spot_savings == pytest.approx(0.7)


def test_spot_savings_edge_cases() -> None:
    assert cost.spot_savings(None, 100) is None
    assert cost.spot_savings(10, 0) is None
    assert cost.spot_savings(100, 100) == 0
    with pytest.raises(cost.CostError):
        cost.spot_savings(-1, 100)


def test_local_job_is_priced_as_the_chosen_instance() -> None:
    local = cost.local_equivalent(72, 0.115)
    assert local.usd == pytest.approx(0.0023) and local.basis.startswith("local wall time")
    with pytest.raises(cost.CostError):
        cost.local_equivalent(-5, 0.115)


def test_last_comparable_seconds_takes_the_newest_completed_job_on_that_type_and_data() -> None:
    jobs = [
        FakeJob("Completed", "ml.m5.large", 100, created_at=1),
        FakeJob("Completed", "ml.m5.large", 120, created_at=3),
        FakeJob("Failed", "ml.m5.large", 999, created_at=5),
        FakeJob("Completed", "ml.m5.xlarge", 50, created_at=6),
        FakeJob("Completed", "ml.m5.large", 80, created_at=7, dataset_version="v2"),
    ]
    assert cost.last_comparable_seconds(jobs, "ml.m5.large", "v1") == 120
    assert cost.last_comparable_seconds(jobs, "ml.m5.large") == 80
    assert cost.last_comparable_seconds(jobs, "ml.t3.medium") is None


def test_estimate_job_uses_the_proof_run_then_a_completed_job(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, instance_count=2)
    proof = probe_run(instance_type="ml.m5.large")
    capacity.save_proof(settings, proof)
    est = cost.estimate_job(settings)
    assert est.instance_type == "ml.m5.large" and est.seconds_source.startswith("capacity probe")
    assert est.usd == pytest.approx(36 / 3600 * 0.115 * 2) and "price snapshot" in est.price_source

    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-1", instance_type="ml.m5.large")
    store.set_status(job.id, "InProgress")
    store.set_status(job.id, "Completed", training_seconds=720.0)
    est = cost.estimate_job(settings)
    assert est.seconds_source == "last comparable completed job" and est.expected_seconds == 720


def test_estimate_job_without_a_price_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(cost.CostError, match=r"no training price for ml\.c5\.xlarge in eu-west-1"):
        cost.estimate_job(Settings(state_dir=tmp_path, region="eu-west-1"), "ml.c5.xlarge")


def test_estimate_job_falls_back_to_the_measuring_probe_when_the_proof_run_failed(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    failed_proof = probe_run(
        instance_type="ml.t3.medium",
        completed=False,
        exit_code=137,
        peak_memory_bytes=None,
        failure="killed: out of memory",
    )
    measured = probe_run(docker_seconds=48.0)
    capacity.save_proof(settings, failed_proof)
    capacity.save_result(settings, measured)
    est = cost.estimate_job(settings, "ml.t3.medium")
    assert est.seconds_source.startswith("capacity probe") and est.expected_seconds == 48.0
