"""Pre-flight before every launch: the dashboard's Launch (launch.launch, launch.record_job) and
`titanic-sm run` run the same checks as `titanic-sm config check` first, and a failing check is
one line naming what is missing and its fix, with nothing created: no job, no worker, no upload."""

from __future__ import annotations

from dataclasses import replace

import pytest
from typer.testing import CliRunner

from services import aws
from services.account import preflight
from services.cli import app
from services.jobs.store import JobStore
from services.settings import Settings
from services.training import launch

OTHER_ACCOUNT_ROLE = "arn:aws:iam::999999999999:role/someone-elses"
ROLE_LINE = (
    "role: role someone-elses is in account 999999999999, the credentials in 123456789012 -> use an "
    "execution role of the account you train in (SageMaker cannot pass another's)"
)


def _request(settings: Settings, **changes: object) -> launch.LaunchRequest:
    base = launch.LaunchRequest(
        channels={"train": settings.s3_uri("datasets", "v1", "train") + "/"},
        instance_type="ml.m5.large",
        max_run_seconds=600,
        request_key="preflight-test",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_launch_refuses_a_failing_check_in_one_line_and_starts_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[str] = []
    monkeypatch.setattr(launch, "_spawn_worker", lambda s, job: spawned.append(job.id))
    bad = replace(settings, role_arn=OTHER_ACCOUNT_ROLE)
    with pytest.raises(preflight.PreflightError) as refused:
        launch.launch(bad, _request(bad))
    assert str(refused.value) == ROLE_LINE
    assert [c.name for c in refused.value.report.failed] == ["role"]
    assert spawned == [] and JobStore(bad.job_store_path).page().total == 0

    # The same request with the account's own role passes the checks and starts its worker.
    job_id = launch.launch(settings, _request(settings))
    assert spawned == [job_id]
    assert JobStore(settings.job_store_path).get(job_id).status == "Pending"


def test_every_failing_check_is_in_the_one_line(settings: Settings) -> None:
    taken = "titanic-20260101-000000-taken1"
    aws.client(settings, "sagemaker").create_training_job(
        TrainingJobName=taken,
        RoleArn=settings.role_arn,
        AlgorithmSpecification={"TrainingImage": "x/y@sha256:" + "0" * 64, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": settings.s3_uri("jobs")},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    bad = replace(settings, role_arn="arn:aws:iam::123456789012:user/not-a-role")
    with pytest.raises(preflight.PreflightError) as refused:
        launch.record_job(bad, _request(bad, job_name=taken))
    line = str(refused.value)
    assert "\n" not in line
    assert line == (
        "role: role_arn 'arn:aws:iam::123456789012:user/not-a-role' is not an IAM role ARN -> use "
        "arn:aws:iam::ACCOUNT:role/NAME (IAM console > Roles > the role > ARN); "
        f"job name: a training job named {taken} already exists -> use another name"
    )
    assert JobStore(bad.job_store_path).page().total == 0


def test_a_checked_launch_is_not_checked_twice(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` and `train` check before they upload or build, then hand their report on."""
    report = preflight.require_ready(settings)
    assert report.seconds is not None and report.seconds > 0

    def no_second_check(*args: object, **kwargs: object) -> preflight.Report:
        raise AssertionError("pre-flight ran twice for one launch")

    monkeypatch.setattr(preflight, "require_ready", no_second_check)
    job, created = launch.record_job(settings, _request(settings), checked=report)
    assert created and job.status == "Pending"


def test_run_refuses_at_pre_flight_before_any_upload(settings: Settings) -> None:
    env = {
        **settings.as_env(),
        "TITANIC_SM_ROLE_ARN": OTHER_ACCOUNT_ROLE,
        "TITANIC_SM_CONFIG": "/dev/null",
    }
    result = CliRunner().invoke(app, ["run"], env=env)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"error: preflight: {ROLE_LINE} (nothing was created; `titanic-sm config check`)"
    assert not any(" data: " in line for line in lines)  # the data stage never started
    listed = aws.client(settings, "s3").list_buckets()["Buckets"]
    assert settings.bucket not in [b["Name"] for b in listed]  # nothing uploaded, no bucket made
    assert not settings.job_store_path.exists() or JobStore(settings.job_store_path).page().total == 0


def test_the_failing_checks_detail_and_fix_read_in_korean(settings: Settings) -> None:
    """What the Train page shows of a refused launch: each check's own words, in the page's language."""
    from services import messages

    bad = replace(settings, role_arn=OTHER_ACCOUNT_ROLE)
    report = preflight.run_checks(bad, use_spot=True, max_run_seconds=3600, max_wait_seconds=600)
    failed = {check.name: check for check in report.failed}
    assert set(failed) == {"role", "spot"}, report.lines()
    for check in failed.values():
        for line in (check.detail, check.fix):
            assert isinstance(line, messages.Notice), line
            assert messages.catalogue()[line.key]["en"].format(**line.values) == line
    role, spot = failed["role"], failed["spot"]
    assert messages.worded(role.detail, "ko") == (
        "역할 someone-elses은(는) 계정 999999999999에 있는데 자격 증명은 계정 123456789012의 것입니다"
    )
    assert messages.worded(spot.detail, "ko") == "max_wait(600초)가 max_run(3600초)보다 짧습니다"
    assert messages.worded(spot.fix, "ko") == "max_wait를 3600 이상으로 설정하세요"
    assert messages.worded(role.detail, "en") == role.detail  # English: the check's own line
