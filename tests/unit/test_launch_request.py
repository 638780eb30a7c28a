"""One launch request, validated once: ``validate`` resolves and checks what the user asked (the
channels and the image only once they are known), the job row stores the validated request, and
the worker reads it back and adds only the image. No placeholder stands in for what is not known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.jobs.store import JobStore
from services.settings import Settings
from services.training import estimator as training
from services.training import launch

IMAGE = "127.0.0.1:5000/titanic-training@sha256:" + "ab" * 32
CHANNELS = {"train": "s3://titanic-sm-local/titanic/datasets/v1/train/"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", data_dir=tmp_path)


def test_validate_resolves_the_request_before_its_data_and_image_exist(settings: Settings) -> None:
    asked = launch.LaunchRequest(
        hyperparameters={"num_leaves": 7, "learning_rate": 0.05}, max_run_seconds=900
    )
    checked = launch.validate(settings, asked)
    assert checked.job_name.startswith(settings.job_name_base + "-")
    assert training.JOB_NAME_PATTERN.match(checked.job_name)
    assert (checked.instance_type, checked.instance_count) == (
        settings.instance_type,
        settings.instance_count,
    )
    assert checked.hyperparameters == {"num_leaves": "7", "learning_rate": "0.05"}  # as SageMaker gets them
    assert (checked.channels, checked.image_uri) == (None, None)  # not known yet: nothing stands in


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_run_seconds": 0}, "max_run must be between 1 and"),
        ({"use_spot": True}, "spot training needs max_wait"),
        ({"hyperparameters": {"leaves": 7}}, "unknown hyperparameter leaves"),
        ({"instance_type": "ml.nothing.large"}, "not a SageMaker training instance type"),
        ({"channels": {"validation": "s3://b/v/"}}, "the train channel is missing"),
        ({"image_uri": "titanic:latest"}, "must be pinned by digest"),
    ],
)
def test_validate_refuses_what_sagemaker_would(
    settings: Settings, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(training.TrainingError, match=message):
        launch.validate(settings, launch.LaunchRequest(**change))


def test_the_data_and_the_image_are_checked_where_they_become_known(settings: Settings) -> None:
    checked = launch.validate(settings, launch.LaunchRequest())
    with pytest.raises(training.TrainingError, match="train channel must be an S3 URI"):
        checked.with_data({"train": "/tmp/train"}, "v1")
    with pytest.raises(training.TrainingError, match="must be pinned by digest"):
        checked.with_image("127.0.0.1:5000/titanic-training:latest")
    ready = checked.with_data(CHANNELS, "v1").with_image(IMAGE)
    assert (ready.channels, ready.dataset_version, ready.image_uri) == (CHANNELS, "v1", IMAGE)


def test_a_validated_request_is_recorded_as_it_is_and_read_back_by_the_worker(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = launch.validate(
        settings,
        launch.LaunchRequest(channels=CHANNELS, dataset_version="v1", hyperparameters={"num_leaves": 9}),
    )

    def again(*_: object, **__: object) -> dict[str, str]:
        raise AssertionError("a validated request was validated again")

    monkeypatch.setattr(training, "check_job", again)
    job, created = launch.record_job(settings, checked, checked=object())  # type: ignore[arg-type]  # pre-flight done
    assert created and job.image_uri is None  # the worker's image stage pins it later
    assert (job.job_name, job.hyperparameters, dict(job.channels)) == (
        checked.job_name,
        {"num_leaves": "9"},
        CHANNELS,
    )
    stored = launch.JobRequest.of(job)
    assert stored == checked
    fit = stored.fit_request(IMAGE, {"titanic-sm-job-id": job.id})
    assert (fit.image_uri, fit.job_name, fit.hyperparameters) == (
        IMAGE,
        checked.job_name,
        {"num_leaves": "9"},
    )
    assert (fit.max_run_seconds, fit.instance_type, dict(fit.tags)) == (
        checked.max_run_seconds,
        checked.instance_type,
        {"titanic-sm-job-id": job.id},
    )


def test_a_request_without_its_channels_is_never_recorded(settings: Settings) -> None:
    checked = launch.validate(settings, launch.LaunchRequest())
    with pytest.raises(training.TrainingError, match="the train channel is missing"):
        launch.record_job(settings, checked, checked=object())  # type: ignore[arg-type]  # pre-flight done


def test_one_submission_keeps_its_key_until_a_launch_with_it_is_recorded() -> None:
    first = launch.submission_key(None)
    assert launch.submission_key(first) == first  # a double click, a refused launch resent
    assert launch.submission_key(None) != first  # the next submission, once the first was recorded


def test_only_an_unsuccessful_job_with_its_request_stored_can_be_restarted(settings: Settings) -> None:
    checked = launch.validate(settings, launch.LaunchRequest(channels=CHANNELS))
    job, _ = launch.record_job(settings, checked, checked=object())  # type: ignore[arg-type]  # pre-flight done
    store = JobStore(settings.job_store_path)
    assert not launch.can_restart(job)  # still Pending
    failed = store.set_status(job.id, "Failed", failure_reason="worker pid 1 exited without finishing")
    assert launch.can_restart(failed)
    imported = store.record_external(
        target="aws", job_name="titanic-elsewhere", status="Failed", created_at=1.0
    )
    assert not launch.can_restart(imported)  # no request of ours to launch again
