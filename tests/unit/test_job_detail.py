"""A job's detail as data: effective hyperparameters, startup phases, and what differs between jobs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from container import hyperparameters as schema
from services.jobs import detail as job_detail
from services.jobs.store import Job, JobStore, Transition

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def job(name: str = "titanic-a", **changes: object) -> Job:
    base = Job(
        id=name[-6:],
        target="local",
        job_name=name,
        status="Completed",
        created_at=100.0,
        updated_at=120.0,
        instance_type="ml.m5.large",
        image_uri=f"127.0.0.1:5000/titanic-training@{DIGEST_A}",
        dataset_version="v1",
        hyperparameters={"num_leaves": "16"},
        validation_accuracy=0.82,
        validation_auc=0.87,
        estimated_cost=0.0004,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_effective_hyperparameters_fill_the_defaults_and_mark_what_was_set() -> None:
    rows = {r.name: r for r in job_detail.effective_hyperparameters(job())}
    assert list(rows) == [spec.name for spec in schema.SCHEMA]
    assert (rows["num_leaves"].value, rows["num_leaves"].set, rows["num_leaves"].default) == (16, True, 8)
    assert (rows["learning_rate"].value, rows["learning_rate"].set) == (0.03, False)
    assert rows["group_survival"].value is True and not rows["group_survival"].set
    assert {r.source for r in rows.values()} == {"schema"}
    assert sum(r.set for r in rows.values()) == 1


def test_a_job_with_no_hyperparameters_shows_every_default_not_an_empty_dict() -> None:
    rows = job_detail.effective_hyperparameters(job(hyperparameters={}))
    assert {r.name: r.value for r in rows} == schema.defaults()
    assert not any(r.set for r in rows)


def test_the_containers_reported_values_win_over_the_schema() -> None:
    reported = {**schema.defaults(), "num_leaves": 16, "n_estimators": 150}
    rows = {
        r.name: r for r in job_detail.effective_hyperparameters(job(metrics={"hyperparameters": reported}))
    }
    assert rows["n_estimators"].value == 150 and not rows["n_estimators"].set
    assert rows["n_estimators"].source == "metrics.json"


def test_startup_phases_from_the_secondary_transitions() -> None:
    marks = (
        Transition("Pending", None, None, 100.0),
        Transition("InProgress", "Starting", None, 101.0),
        Transition("InProgress", "Downloading", None, 103.5),
        Transition("InProgress", "Training", None, 104.0),
        Transition("InProgress", "Restarting", None, 110.0),
        Transition("InProgress", "Training", None, 112.0),
        Transition("InProgress", "Uploading", None, 118.0),
        Transition("Completed", "Completed", None, 119.0),
    )
    phases = job_detail.startup_phases(job(transitions=marks))
    assert phases.seconds == {"Starting": 2.5, "Downloading": 0.5, "Training": 12.0, "Uploading": 1.0}
    assert phases.total == 16.0
    running = job_detail.startup_phases(job(status="InProgress", transitions=marks[:4]), now=130.0)
    assert running.seconds["Training"] == 26.0


def test_phase_history_agrees_with_each_jobs_own_phases(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    for name in ("one", "two", "three"):
        created, _ = store.create(target="local", job_name=name)
        store.heartbeat(created.id, pid=1)
        store.set_status(created.id, "InProgress", secondary_status="Starting")
        store.set_status(created.id, "InProgress", secondary_status="Training")
        if name != "three":
            store.set_status(created.id, "Completed", secondary_status="Completed")
    now = max(t.at for j in store.list() for t in j.transitions) + 5.0
    history = job_detail.phase_history(store, now=now)
    assert [p.job_name for p in history] == ["three", "two", "one"]
    for phases in history:
        own = job_detail.startup_phases(store.get(phases.job_id), now=now)
        assert phases.seconds == pytest.approx(own.seconds)
    assert history[0].seconds["Training"] >= 5.0  # still training: until now
    medians = job_detail.phase_medians(history)
    assert medians["Downloading"] is None and medians["Uploading"] is None  # no job went through them
    training = sorted(p.seconds["Training"] for p in history)
    assert medians["Training"] == pytest.approx(training[1])


def test_compare_keeps_only_what_differs_across_any_number_of_jobs() -> None:
    a = job("titanic-aaaaaa")
    b = job(
        "titanic-bbbbbb",
        hyperparameters={"num_leaves": "16", "learning_rate": "0.1"},
        validation_accuracy=0.8,
    )
    c = job(
        "titanic-cccccc",
        image_uri=f"127.0.0.1:5000/titanic-training@{DIGEST_B}",
        use_spot=True,
        actual_cost=0.0002,
    )
    compared = job_detail.compare_jobs([a, b, c])
    rows = {r.name: r for r in compared.rows}
    assert compared.job_names == ["titanic-aaaaaa", "titanic-bbbbbb", "titanic-cccccc"]
    assert set(rows) == {"learning_rate", "image_digest", "use_spot", "validation_accuracy", "cost_usd"}
    assert (
        rows["learning_rate"].values == [0.03, 0.1, 0.03] and rows["learning_rate"].group == "hyperparameter"
    )
    assert rows["image_digest"].values == [DIGEST_A, DIGEST_A, DIGEST_B]
    assert rows["cost_usd"].values == [0.0004, 0.0004, 0.0002]  # actual wins over estimated
    assert "num_leaves" in compared.same and "dataset_version" in compared.same
    assert job_detail.compare_jobs([a, a]).rows == []
    with pytest.raises(ValueError, match="at least two jobs"):
        job_detail.compare_jobs([a])


def test_parallel_coordinates_has_the_varying_hyperparameters_against_accuracy() -> None:
    jobs = [
        job("titanic-aaaaaa", hyperparameters={"num_leaves": "8"}, validation_accuracy=0.80),
        job(
            "titanic-bbbbbb",
            hyperparameters={"num_leaves": "16", "group_survival": "false"},
            validation_accuracy=0.83,
        ),
        job(
            "titanic-cccccc", hyperparameters={"num_leaves": "32"}, validation_accuracy=None, status="Failed"
        ),
    ]
    chart = job_detail.parallel_coordinates(jobs)
    dims = {d["name"]: d for d in chart.dimensions}
    assert set(dims) == {"num_leaves", "group_survival"}
    assert dims["num_leaves"]["values"] == [8.0, 16.0, 32.0] and dims["num_leaves"]["default"] == 8.0
    assert dims["group_survival"]["values"] == [1.0, 0.0, 1.0]
    assert chart.color_name == "validation_accuracy" and chart.color == [0.80, 0.83, None]


def test_image_digest_of_a_pinned_uri() -> None:
    assert job_detail.image_digest(f"r/x@{DIGEST_A}") == DIGEST_A
    assert job_detail.image_digest("r/x:latest") is None and job_detail.image_digest(None) is None


def test_the_series_period_fits_the_span_and_the_target() -> None:
    import datetime as dt

    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    span = [start + dt.timedelta(seconds=s) for s in (120, 3000, 36_000, 5 * 86_400)]
    assert [job_detail._period(start, end) for end in span] == [1, 10, 120, 900]
    assert [job_detail._period(start, end, minimum=60) for end in span] == [60, 60, 120, 900]
