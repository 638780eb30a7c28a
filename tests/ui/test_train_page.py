"""The Train page: the form comes from the container's schema, and bad launches are refused in one line."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest
from ui_helpers import errors, shown

from container.contract import MAX_RUNTIME_LIMIT_SECONDS
from container.hyperparameters import SCHEMA
from services.instance import cost
from services.jobs import store as jobs
from services.jobs import sync as job_sync
from services.jobs.store import JobStore
from services.settings import Settings
from services.training import launch, logs

PAGE = "pages/3_Train.py"
DATASET = {
    "version": "0123456789abcdef",
    "channels": {
        "train": "s3://bucket/titanic/datasets/0123456789abcdef/train/",
        "validation": "s3://bucket/titanic/datasets/0123456789abcdef/validation/",
    },
}


def test_hyperparameter_form_is_generated_from_the_schema(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    assert not at.exception
    assert not errors(at), errors(at)
    for spec in SCHEMA:
        widget = (
            at.checkbox(key=f"hp_{spec.name}")
            if spec.type is bool
            else at.number_input(key=f"hp_{spec.name}")
        )
        assert widget.value == spec.default, spec.name
        if spec.type is not bool:
            assert (widget.min, widget.max) == (spec.min, spec.max), spec.name


def test_spot_launch_with_max_wait_below_max_run_is_refused_and_records_nothing(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    at = page(PAGE)
    at.session_state["selected_dataset"] = DATASET
    at.run()
    at.toggle(key="use_spot").set_value(True)
    at.number_input(key="max_run").set_value(3600)
    at.number_input(key="max_wait").set_value(600)
    at.button(key="launch").click().run()

    assert not at.exception
    message = " ".join(errors(at))
    assert "max_wait (600 s) must be at least max_run (3600 s)" in message, message
    assert JobStore(app_settings.job_store_path).list() == []


def test_launch_without_a_dataset_names_the_missing_step(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    at.button(key="launch").click().run()
    assert any("Data page" in e for e in errors(at)), errors(at)
    assert JobStore(app_settings.job_store_path).list() == []


def running_job(settings: Settings, name: str, worker_pid: int) -> str:
    store = JobStore(settings.job_store_path)
    job, _ = store.create(
        target="local", job_name=name, instance_type="ml.m5.large", channels=DATASET["channels"]
    )
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    store.set_status(job.id, "InProgress", secondary_status="Training")
    store.heartbeat(job.id, pid=worker_pid)
    return job.id


def log_box(at: AppTest) -> str:
    return next(str(c.value) for c in at.code)


def test_a_fresh_tab_shows_the_running_job_streams_its_logs_and_blocks_a_second_launch(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    running_job(app_settings, "titanic-ui-running", os.getpid())
    with logs.LogForwarder(app_settings, "titanic-ui-running") as forwarder:
        forwarder.write("trainer: starting")
        forwarder.write("trainer: round 25/200")
        forwarder.flush()

        at = page(PAGE).run()  # a new session: nothing in its state but the store
        assert not at.exception
        assert any("titanic-ui-running" in s.value for s in at.subheader)
        assert {m.label: m.value for m in at.metric}["Secondary status"] == "Training"
        assert at.button(key="launch").disabled
        assert log_box(at).splitlines() == ["trainer: starting", "trainer: round 25/200"]

        # The next poll reads only the newer events (nextForwardToken), so nothing is repeated.
        forwarder.write("trainer: round 50/200")
        forwarder.flush()
        at.run()
        assert log_box(at).splitlines() == [
            "trainer: starting",
            "trainer: round 25/200",
            "trainer: round 50/200",
        ]


def test_stop_ends_the_worker_and_records_stopped(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    # A stand-in worker in its own session, as services.training.launch.launch starts them.
    fake_worker = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        job_id = running_job(app_settings, "titanic-ui-stop", fake_worker.pid)
        at = page(PAGE).run()
        at.button(key="stop_job").click().run()
        assert fake_worker.wait(timeout=30) != 0
        job = JobStore(app_settings.job_store_path).get(job_id)
        assert job.status == "Stopped"
        assert {m.label: m.value for m in at.metric}["Status"] == "Stopped"
        assert not at.button(key="launch").disabled
    finally:
        if fake_worker.poll() is None:
            fake_worker.kill()


def test_a_dead_workers_job_the_api_never_got_ends_failed_and_unblocks_launch(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    """Its worker asked for CreateTrainingJob and died: the reaper leaves it, the page's poll sees
    the worker gone and syncs, and the API (moto here) knows no such job."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    job_id = running_job(app_settings, "titanic-ui-orphan", gone.pid)
    store = JobStore(app_settings.job_store_path)
    store.update(job_id, create_requested_at=time.time() - job_sync.CREATE_SETTLE_SECONDS - 1)
    assert jobs.refresh(store) == []
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    job = store.get(job_id)
    assert job.status == "Failed"
    assert f"the worker pid {gone.pid} died before SageMaker had training job titanic-ui-orphan" in " ".join(
        errors(at)
    )
    assert not at.button(key="launch").disabled


def test_launch_on_a_type_that_fails_a_check_needs_the_instance_pages_override(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ml.t3.medium has sample quota 0: chosen only through settings, it is refused at Launch.
    monkeypatch.setenv("TITANIC_SM_INSTANCE_TYPE", "ml.t3.medium")
    launched: list[str] = []

    def record_only(settings: Settings, request: launch.LaunchRequest) -> str:
        """launch.launch without the detached worker: the job is recorded, nothing runs."""
        job, _ = launch.record_job(settings, request)
        launched.append(job.id)
        return job.id

    monkeypatch.setattr(launch, "launch", record_only)

    at = page(PAGE)
    at.session_state["selected_dataset"] = DATASET
    at.run()
    at.button(key="launch").click().run()
    assert not at.exception
    message = " ".join(errors(at))
    assert "ml.t3.medium fails the instance checks (quota 0" in message and "Instance page" in message
    assert launched == []

    # With the override given on the Instance page, it launches and the reason goes with the job.
    at.session_state["launch_instance"] = "ml.t3.medium"
    at.session_state["launch_override_reason"] = "quota raised this morning"
    at.run()
    at.button(key="launch").click().run()
    assert not errors(at), errors(at)
    assert len(launched) == 1
    job = JobStore(app_settings.job_store_path).get(launched[0])
    assert (job.instance_type, job.instance_reason) == ("ml.t3.medium", "quota raised this morning")


# SageMaker's ceiling is 28 days (2,419,200 s), declared once in container.contract.
@pytest.mark.parametrize(
    ("max_run", "expected_run"), [(259_200, 259_200), (3_000_000, MAX_RUNTIME_LIMIT_SECONDS)]
)
def test_max_run_settings_outside_sagemakers_limits_start_the_form_inside_them(
    page: Callable[..., AppTest],
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    max_run: int,
    expected_run: int,
) -> None:
    monkeypatch.setenv("TITANIC_SM_MAX_RUN_SECONDS", str(max_run))
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="max_run").value == expected_run
    assert at.number_input(key="max_wait").value == min(2 * expected_run, MAX_RUNTIME_LIMIT_SECONDS)
    warned = any("TITANIC_SM_MAX_RUN_SECONDS" in shown(w.value) for w in at.warning)
    assert warned == (max_run != expected_run)


def test_a_max_run_setting_below_one_second_is_one_settings_error(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITANIC_SM_MAX_RUN_SECONDS", "0")
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert errors(at) == ["Settings: max_run_seconds (TITANIC_SM_MAX_RUN_SECONDS) must be at least 1, not 0"]


def test_the_cost_is_not_recomputed_on_every_rerun(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On aws each figure pages through the Price List; a rerun (any click) must not repeat it.
    calls: list[tuple[str, bool | None]] = []
    real = cost.launch_cost

    def counted(settings: Settings, instance_type: str | None = None, **kwargs: object) -> cost.LaunchCost:
        calls.append((str(instance_type), kwargs.get("spot")))  # type: ignore[arg-type]  # the spy forwards the page's own arguments unchanged
        return real(settings, instance_type, **kwargs)  # type: ignore[arg-type]  # the spy forwards the page's own arguments unchanged

    monkeypatch.setattr(cost, "launch_cost", counted)
    at = page(PAGE).run()
    at.run()
    at.run()
    assert calls == [("ml.m5.large", False)]


def cards(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_expected_and_maximum_cost_name_their_price_source(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    figures = cost.launch_cost(app_settings, max_run_seconds=app_settings.max_run_seconds)
    assert figures.maximum is not None
    assert cards(at)["Maximum cost"] == f"${figures.maximum.usd:.2f}"
    captions = [shown(c.value).replace("`", "") for c in at.caption]
    assert any(c.startswith("max_run ") and figures.maximum.price_source in c for c in captions), captions

    # With spot the ceiling is max_wait x price x count.
    at.toggle(key="use_spot").set_value(True)
    at.number_input(key="max_run").set_value(3600)
    at.number_input(key="max_wait").set_value(7200)
    at.button(key="launch").click().run()  # the form's values apply on submit
    spot = cost.launch_cost(app_settings, spot=True, max_run_seconds=3600, max_wait_seconds=7200)
    assert spot.maximum is not None and spot.maximum.basis == "max_wait"
    assert cards(at)["Maximum cost"] == f"${spot.maximum.usd:.2f}"


def test_a_launch_over_the_budget_is_refused_in_one_line_until_the_budget_is_raised(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITANIC_SM_MAX_JOB_COST_USD", "0.05")
    launched: list[str] = []

    def record_only(settings: Settings, request: launch.LaunchRequest) -> str:
        job, _ = launch.record_job(settings, request)  # the budget check lives here
        launched.append(job.id)
        return job.id

    monkeypatch.setattr(launch, "launch", record_only)
    at = page(PAGE)
    at.session_state["selected_dataset"] = DATASET
    at.run()
    at.number_input(key="max_run").set_value(86_400)
    at.button(key="launch").click().run()
    ceiling = cost.launch_cost(app_settings, max_run_seconds=86_400).maximum
    assert ceiling is not None and ceiling.usd > 0.05
    assert errors(at) == [
        f"Launch refused: the maximum cost ${ceiling.usd:.2f} (by max_run) is over the budget of $0.05 "
        "(max_job_cost_usd)."
    ], errors(at)
    assert launched == [] and JobStore(app_settings.job_store_path).list() == []
    assert any("over the budget" in shown(w.value) for w in at.warning)  # said before the click too

    # Raising the budget is the user's explicit choice: then it launches.
    at.number_input(key="max_job_cost_usd").set_value(ceiling.usd + 1)
    at.button(key="launch").click().run()
    assert not errors(at), errors(at)
    assert len(launched) == 1


def test_the_page_in_korean(page: Callable[..., AppTest], app_settings: Settings) -> None:
    at = page(PAGE, lang="ko").run()
    assert not at.exception and not errors(at), errors(at)
    assert at.title[0].value == "3 · 학습"
    assert {"예상 비용", "최대 비용"} <= set(cards(at))
    assert at.button(key="launch").label == "실행"
    # The hyperparameters' help speaks Korean too; their names stay as they are.
    assert at.number_input(key="hp_num_leaves").label == "num_leaves"
    assert "트리당" in (at.number_input(key="hp_num_leaves").help or "")


def test_a_launch_that_fails_a_pre_flight_check_is_refused_in_one_line_and_records_nothing(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An execution role of another account: SageMaker could not pass it, so nothing may be created.
    monkeypatch.setenv("TITANIC_SM_ROLE_ARN", "arn:aws:iam::999999999999:role/someone-elses")
    spawned: list[str] = []
    monkeypatch.setattr(launch, "_spawn_worker", lambda settings, job: spawned.append(job.id))
    at = page(PAGE)
    at.session_state["selected_dataset"] = DATASET
    at.run()
    at.button(key="launch").click().run()  # the page's own service call: launch.launch

    assert not at.exception, [e.value for e in at.exception]
    assert errors(at) == [
        "Launch refused (a pre-flight check failed; nothing was created): role: role someone-elses is in "
        "account 999999999999, the credentials in 123456789012 → fix: use an execution role of the "
        "account you train in (SageMaker cannot pass another's)"
    ], errors(at)
    assert spawned == [] and JobStore(app_settings.job_store_path).list() == []

    # The same refusal in Korean: the page's entry, and the check's detail and fix worded too.
    at = page(PAGE, lang="ko")
    at.session_state["selected_dataset"] = DATASET
    at.run()
    at.button(key="launch").click().run()
    assert errors(at) == [
        "실행 거부(사전 점검 실패, 아무것도 만들지 않았습니다): role — 역할 someone-elses은(는) 계정 "
        "999999999999에 있는데 자격 증명은 계정 123456789012의 것입니다 → 해결: 학습하는 계정의 실행 "
        "역할을 쓰세요 (SageMaker는 다른 계정의 역할을 넘길 수 없습니다)"
    ], errors(at)

    # With the role fixed, the same launch passes the checks and its worker is started.
    monkeypatch.setenv("TITANIC_SM_ROLE_ARN", "arn:aws:iam::123456789012:role/titanic-sm-execution")
    at = page(PAGE)
    at.session_state["selected_dataset"] = DATASET
    at.run()
    at.button(key="launch").click().run()
    assert not errors(at), errors(at)
    assert len(spawned) == 1 and JobStore(app_settings.job_store_path).get(spawned[0]).status == "Pending"
