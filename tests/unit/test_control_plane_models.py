"""The training job's state machine, walked edge by edge, and the store it lives in."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from services.local.control_plane.models import (
    PRIMARY_OF,
    SIMULATED_SPOT_SAVINGS,
    SPOT_INTERRUPTION_TAG,
    TERMINAL,
    TRANSITIONS,
    ApiError,
    IllegalTransition,
    JobStore,
    TrainingJob,
)

STATUSES = sorted(PRIMARY_OF)
EDGES = [(source, target) for source, targets in TRANSITIONS.items() for target in sorted(targets)]
NON_EDGES = [(s, t) for s, t in itertools.product(STATUSES, STATUSES) if t not in TRANSITIONS[s]]


def _request(name: str = "job-1", spot: bool = False, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "EnableManagedSpotTraining": spot,
    }
    request.update(extra)
    return request


def _job_in(status: str, spot: bool = False) -> TrainingJob:
    job = TrainingJob.create(_request(spot=spot), "us-east-1", "123456789012", now=100.0)
    job.secondary_status = status
    job.status = PRIMARY_OF[status]
    job.transitions[-1]["Status"] = status
    job.training_start = 101.0
    return job


def test_every_status_has_a_primary_status_and_an_entry_in_the_table() -> None:
    assert set(TRANSITIONS) == set(PRIMARY_OF)
    assert all(not TRANSITIONS[status] for status in TERMINAL), "terminal statuses lead nowhere"
    assert set(PRIMARY_OF.values()) == {"InProgress", "Stopping", "Completed", "Failed", "Stopped"}


def test_a_new_job_is_in_progress_and_starting_with_sagemakers_message() -> None:
    job = TrainingJob.create(_request(), "eu-west-1", "123456789012", now=5.0)
    assert (job.status, job.secondary_status) == ("InProgress", "Starting")
    assert job.arn == "arn:aws:sagemaker:eu-west-1:123456789012:training-job/job-1"
    assert job.transitions == [
        {"Status": "Starting", "StartTime": 5.0, "StatusMessage": "Preparing the instances for training"}
    ]


@pytest.mark.parametrize(("source", "target"), EDGES, ids=[f"{s}->{t}" for s, t in EDGES])
def test_each_edge_records_the_move_as_sagemaker_reports_it(source: str, target: str) -> None:
    job = _job_in(source)
    job.instance_seconds = 10.0
    job.move(target, "why", now=111.0)
    assert job.secondary_status == target and job.status == PRIMARY_OF[target]
    previous, current = job.transitions[-2:]
    assert previous["EndTime"] == 111.0
    assert current["Status"] == target and current["StartTime"] == 111.0 and current["StatusMessage"] == "why"
    assert job.last_modified == 111.0
    if target in TERMINAL:
        assert current["EndTime"] == 111.0 and job.training_end == 111.0
        assert job.billable_seconds == 10 and job.training_seconds == 10
    else:
        assert "EndTime" not in current and job.training_end is None
    assert (job.failure_reason == "why") == (target == "Failed")


@pytest.mark.parametrize(("source", "target"), NON_EDGES, ids=[f"{s}-x-{t}" for s, t in NON_EDGES])
def test_every_other_move_is_refused_and_changes_nothing(source: str, target: str) -> None:
    job = _job_in(source)
    before = job.to_record()
    with pytest.raises(IllegalTransition, match=f"{source} -> {target}"):
        job.move(target)
    assert job.to_record() == before


@pytest.mark.parametrize(
    ("cause", "ends_as"),
    [("StopTrainingJob", "Stopped"), ("MaxRuntimeExceeded", "MaxRuntimeExceeded"),
     ("MaxWaitTimeExceeded", "MaxWaitTimeExceeded")],
)  # fmt: skip
def test_a_stop_goes_through_stopping_and_ends_by_its_cause(cause: str, ends_as: str) -> None:
    job = _job_in("Training")
    assert job.request_stop(cause, now=120.0)
    assert (job.status, job.secondary_status, job.stop_cause) == ("Stopping", "Stopping", cause)
    assert not job.request_stop("StopTrainingJob"), "a second stop changes nothing"
    assert job.stop_cause == cause
    job.move(job.stopped_status(), now=121.0)
    assert (job.status, job.secondary_status) == ("Stopped", ends_as)
    assert not job.request_stop("StopTrainingJob"), "an ended job cannot be stopped"


def test_billable_time_is_whole_seconds_and_spot_carries_the_simulated_discount() -> None:
    on_demand, spot = _job_in("Training"), _job_in("Training", spot=True)
    assert on_demand.billable(9.2) == 10
    assert spot.billable(100.0) == round(100 * (1 - SIMULATED_SPOT_SAVINGS))
    assert spot.billable(0.1) == 1 and spot.billable(0) == 0
    spot.instance_seconds = 100.0
    spot.move("Uploading", now=201.0)
    spot.move("Completed", now=201.0)
    assert spot.training_seconds == 100 and spot.billable_seconds == 30


def test_the_interruption_tag_is_read_from_the_jobs_tags() -> None:
    tagged = TrainingJob.create(
        _request(spot=True, Tags=[{"Key": SPOT_INTERRUPTION_TAG, "Value": "4.5"}]), "us-east-1", "1" * 12
    )
    assert tagged.simulated_interruption_after == 4.5
    assert _job_in("Training").simulated_interruption_after is None


def test_the_store_keeps_jobs_across_a_restart_and_names_must_be_unique(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    job = TrainingJob.create(_request("kept"), "us-east-1", "123456789012")
    store.insert(job)
    store.update("kept", lambda j: j.move("Downloading"))
    with pytest.raises(ApiError) as duplicate:
        store.insert(TrainingJob.create(_request("kept"), "us-east-1", "123456789012"))
    assert duplicate.value.code == "ResourceInUse"
    store.close()

    reopened = JobStore(path)
    kept = reopened.get("kept")
    assert kept.secondary_status == "Downloading" and [t["Status"] for t in kept.transitions] == [
        "Starting",
        "Downloading",
    ]
    with pytest.raises(ApiError) as missing:
        reopened.get("nope")
    assert missing.value.code == "ValidationException"


def test_admission_sees_the_active_jobs_and_a_refusal_stores_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.insert(TrainingJob.create(_request("first"), "us-east-1", "123456789012"))
    seen: list[list[str]] = []

    def refuse(active: list[TrainingJob]) -> None:
        seen.append([j.name for j in active])
        raise ApiError("ResourceLimitExceeded", "no")

    with pytest.raises(ApiError):
        store.insert(TrainingJob.create(_request("second"), "us-east-1", "123456789012"), admit=refuse)
    assert seen == [["first"]]
    assert [j.name for j in store.all()] == ["first"]
    store.close()


def test_a_copy_from_the_store_does_not_change_the_stored_job(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.insert(TrainingJob.create(_request("copy"), "us-east-1", "123456789012"))
    copy = store.get("copy")
    copy.move("Downloading")
    assert store.get("copy").secondary_status == "Starting"
    store.close()
