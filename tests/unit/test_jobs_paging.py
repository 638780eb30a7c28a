"""The history at scale: filter, search and page in SQL with a total count; phases summed in SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.jobs.store import PHASES, JobNotFoundError, JobStore


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    store = JobStore(tmp_path / "jobs.sqlite3")
    for number in range(23):
        target = "aws" if number % 3 == 0 else "local"
        job, _ = store.create(
            target=target,
            job_name=f"titanic-{number:03d}",
            instance_type="ml.m5.xlarge" if number % 5 == 0 else "ml.m5.large",
            dataset_version="v50%" if number == 7 else "v1",
        )
        store.heartbeat(job.id, pid=1)  # alive: no reader reaps it
        if number % 2 == 0:
            store.set_status(job.id, "InProgress", secondary_status="Training")
            store.set_status(job.id, "Completed", secondary_status="Completed")
    return store


def test_pages_are_newest_first_with_the_total(store: JobStore) -> None:
    first = store.page(limit=10)
    assert first.total == 23 and first.page_count == 3 and first.page_number == 1
    assert [j.job_name for j in first.jobs] == [f"titanic-{n:03d}" for n in range(22, 12, -1)]
    last = store.page(offset=20, limit=10)
    assert [j.job_name for j in last.jobs] == ["titanic-002", "titanic-001", "titanic-000"]
    everyone = [j.job_name for o in (0, 10, 20) for j in store.page(offset=o, limit=10).jobs]
    assert sorted(everyone) == sorted(j.job_name for j in store.list())  # each job on exactly one page
    # the page's jobs come with their transitions
    assert [t.status for t in store.page(limit=1).jobs[0].transitions] == [
        "Pending",
        "InProgress",
        "Completed",
    ]


def test_an_offset_past_the_end_gives_the_last_page(store: JobStore) -> None:
    past = store.page(offset=500, limit=10)
    assert past.offset == 20 and len(past.jobs) == 3 and past.total == 23


def test_filters_and_text_are_counted_in_sql(store: JobStore) -> None:
    completed = store.page(statuses=["Completed"], limit=100)
    assert completed.total == 12 and all(j.status == "Completed" for j in completed.jobs)
    aws_done = store.page(statuses=["Completed"], targets=["aws"], limit=100)
    assert {j.job_name for j in aws_done.jobs} == {f"titanic-{n:03d}" for n in range(0, 23, 6)}
    assert aws_done.total == len(aws_done.jobs)
    xlarge = store.page(text="M5.XLARGE", limit=2)  # case-insensitive, counted beyond the page
    assert xlarge.total == 5 and len(xlarge.jobs) == 2
    assert store.page(text="titanic-01", limit=100).total == 10
    # % and _ are the user's text, not wildcards
    assert [j.job_name for j in store.page(text="50%").jobs] == ["titanic-007"]
    assert store.page(text="titanic_0").total == 0
    assert store.page(text="nothing like it").total == 0 and store.page(text="nothing").jobs == []
    # hostile text is only text: no SQL, no wildcard, no escape character of its own
    for text in ("'; DROP TABLE jobs; --", "\\", "\\%", '" OR 1=1 --'):
        assert store.page(text=text).total == 0
    assert store.page(text="   ").total == 23  # blank: no text filter
    assert store.page(limit=1).total == 23


def test_bad_page_arguments_are_refused(store: JobStore) -> None:
    with pytest.raises(ValueError, match="page size must be at least 1"):
        store.page(limit=0)
    with pytest.raises(ValueError, match="offset cannot be negative"):
        store.page(offset=-1)


def test_get_many_keeps_the_order_and_names_a_missing_job(store: JobStore) -> None:
    jobs = store.get_many(["titanic-004", "titanic-001"])
    assert [j.job_name for j in jobs] == ["titanic-004", "titanic-001"]
    assert store.get_many([jobs[1].id])[0].job_name == "titanic-001"
    with pytest.raises(JobNotFoundError, match="titanic-999"):
        store.get_many(["titanic-001", "titanic-999"])


def test_phase_seconds_follow_the_transitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    clock = iter([100.0, 101.0, 104.0, 105.0, 115.0, 117.0, 120.0, 121.0, 130.0])
    monkeypatch.setattr("services.jobs.store.time.time", lambda: next(clock))
    job, _ = store.create(target="local", job_name="phased")  # 100
    store.set_status(job.id, "InProgress", secondary_status="Starting")  # 101
    store.set_status(job.id, "InProgress", secondary_status="Downloading")  # 104
    store.set_status(job.id, "InProgress", secondary_status="Training")  # 105
    store.set_status(job.id, "InProgress", secondary_status="Uploading")  # 115
    store.set_status(job.id, "Completed", secondary_status="Completed")  # 117
    running, _ = store.create(target="local", job_name="running")  # 120
    store.set_status(running.id, "InProgress", secondary_status="Starting")  # 121
    idle, _ = store.create(target="local", job_name="idle")  # 130
    seconds = store.phase_seconds(now=150.0)
    assert seconds[job.id] == {"Starting": 3.0, "Downloading": 1.0, "Training": 10.0, "Uploading": 2.0}
    assert seconds[running.id] == {"Starting": 29.0}  # still starting: until now
    assert seconds[idle.id] == {}
    assert set(store.phase_seconds([job.id], now=150.0)) == {job.id}
    assert set(PHASES) == {"Starting", "Downloading", "Training", "Uploading"}


def test_a_v2_store_gains_the_history_indexes_and_keeps_its_jobs(tmp_path: Path) -> None:
    import sqlite3

    from services.jobs import store as jobs

    path = tmp_path / "jobs.sqlite3"
    conn = sqlite3.connect(path)
    for script in jobs.MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (2)")
    conn.execute(
        "INSERT INTO jobs (id, target, job_name, status, created_at, updated_at) "
        "VALUES ('old2', 'local', 'titanic-v2', 'Completed', 100.0, 200.0)"
    )
    conn.commit()
    conn.close()
    store = JobStore(path)
    assert store.migrate() == jobs.SCHEMA_VERSION == len(jobs.MIGRATIONS)
    assert [j.job_name for j in store.page().jobs] == ["titanic-v2"]
    with sqlite3.connect(path) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        plan = " ".join(
            str(r[3])
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT rowid FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT 50"
            )
        )
    assert {"jobs_created", "jobs_status_created"} <= indexes
    # newest-first pages walk the index instead of sorting the whole history
    assert "jobs_created" in plan and "TEMP B-TREE" not in plan, plan


def test_latest_completed_is_the_newest_matching_job(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")

    def finished(
        name: str, instance: str, version: str, seconds: float | None, target: str = "local"
    ) -> None:
        job, _ = store.create(target=target, job_name=name, instance_type=instance, dataset_version=version)
        store.set_status(job.id, "InProgress", secondary_status="Training")
        store.set_status(job.id, "Completed", secondary_status="Completed", training_seconds=seconds)

    finished("old-v1", "ml.m5.large", "v1", 40.0)
    finished("new-v2", "ml.m5.large", "v2", 30.0, target="aws")
    finished("untimed", "ml.m5.large", "v2", None)
    finished("other-type", "ml.m5.xlarge", "v1", 20.0)
    store.create(target="local", job_name="running", instance_type="ml.m5.large")  # not Completed

    def name(job: object) -> str | None:
        return getattr(job, "job_name", None)

    assert name(store.latest_completed("ml.m5.large")) == "untimed"
    assert name(store.latest_completed("ml.m5.large", timed=True)) == "new-v2"
    assert name(store.latest_completed("ml.m5.large", dataset_version="v1", timed=True)) == "old-v1"
    assert name(store.latest_completed("ml.m5.large", target="local", timed=True)) == "old-v1"
    assert store.latest_completed("ml.p3.2xlarge") is None
