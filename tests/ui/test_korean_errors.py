"""Korean pages show service errors in Korean: a bad CSV, a refused instance, a refused launch, a
settings error, a stack that is down, the instance decision's warnings and exclusions, and a job the
container refused are worded from the error's code and values by the message catalogue, not shown
as English."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest
from test_data_page import HEADER, good_rows, upload
from ui_helpers import errors, texts
from ui_helpers import shown as shown_text

from services.instance import instances
from services.jobs.store import JobStore
from services.local import stack as local_stack
from services.settings import Settings

HANGUL = re.compile(r"[\uac00-\ud7a3]")
# The stack's own check, before the fixtures stand the test's moto in for a running stack.
REAL_RUNNING_ENDPOINTS = local_stack.running_endpoints


def test_a_bad_csv_is_refused_in_korean_naming_file_column_line_and_value(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    rows = good_rows(30)
    rows[2] = rows[2].replace(",23,", ",twenty,")  # CSV line 4
    at = upload(page("pages/1_Data.py", lang="ko").run(), "bad_age.csv", "\n".join([HEADER, *rows]).encode())
    assert not at.exception
    assert errors(at) == ["bad_age.csv: 열 'Age'의 4번째 줄 값 'twenty'은(는) 숫자가 아닙니다"], errors(at)

    english = upload(page("pages/1_Data.py").run(), "bad_age.csv", "\n".join([HEADER, *rows]).encode())
    assert errors(english) == ["bad_age.csv: column 'Age' has non-numeric value 'twenty' on line 4"]


def test_a_file_that_is_not_a_csv_is_refused_in_korean(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    at = upload(page("pages/1_Data.py", lang="ko").run(), "page.csv", b"<html><body>404</body></html>")
    assert errors(at) == ["page.csv: CSV 파일이 아닙니다 (HTML 또는 XML로 보입니다)"], errors(at)


def test_a_refused_instance_is_explained_in_korean(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    evidence = instances.gather(app_settings)
    failing = next(c for c in evidence.on_demand.candidates if not c.eligible)
    at = page("pages/2_Instance.py", lang="ko").run()
    at.selectbox(key="instance_pick").set_value(failing.instance_type).run()
    at.button(key="use_instance").click().run()
    assert not at.exception
    shown = errors(at)
    assert len(shown) == 1, shown
    assert shown[0].startswith(f"{failing.instance_type}은(는) 인스턴스 검사를 통과하지 못했습니다"), shown
    assert "재정의 사유" in shown[0] and "fails the instance checks" not in shown[0]


def test_a_refused_launch_is_in_korean_on_the_train_page(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    dataset = {
        "version": "0123456789abcdef",
        "channels": {"train": "s3://bucket/titanic/datasets/0123456789abcdef/train/"},
    }
    at = page("pages/3_Train.py", lang="ko")
    at.session_state["selected_dataset"] = dataset
    at.run()
    at.toggle(key="use_spot").set_value(True)
    at.number_input(key="max_run").set_value(3600)
    at.number_input(key="max_wait").set_value(600)
    at.button(key="launch").click().run()
    assert not at.exception
    assert errors(at) == ["max_wait(600초)은 max_run(3600초) 이상이어야 합니다"], errors(at)
    assert JobStore(app_settings.job_store_path).list() == []
    assert all(HANGUL.search(e) for e in errors(at))


def test_the_long_rationale_is_korean_on_a_korean_page(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    evidence = instances.gather(app_settings)
    at = page("pages/2_Instance.py", lang="ko").run()
    assert not at.exception
    shown = texts(at)
    assert instances.rationale_text(evidence.on_demand, "ko") in shown
    assert evidence.on_demand.rationale not in shown  # the English paragraph is gone
    assert f"{evidence.on_demand.chosen}은(는) 필요량에 맞는 가장 작은 온디맨드 학습 인스턴스입니다" in shown


def test_a_settings_error_is_korean_naming_the_variable_and_value(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITANIC_SM_TARGET", "mars")
    at = page("Home.py", lang="ko").run()
    assert not at.exception
    assert errors(at) == [
        "설정 오류: target(TITANIC_SM_TARGET)은 'local' 또는 'aws'여야 합니다 (받은 값: 'mars')"
    ], errors(at)
    english = page("Home.py").run()
    assert errors(english) == ["Settings: target (TITANIC_SM_TARGET) must be 'local' or 'aws', not 'mars'"]


def test_a_stack_that_is_down_is_said_in_korean_with_what_to_run(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stack's own check, not the fixture's stand-in: nothing runs in this test's state dir.
    monkeypatch.setattr(local_stack, "running_endpoints", REAL_RUNNING_ENDPOINTS)
    at = page("pages/1_Data.py", lang="ko").run()
    at.button(key="write_to_s3").click().run()
    assert not at.exception
    folder = app_settings.local_stack_dir
    (shown,) = [e for e in errors(at) if e.startswith("S3에 쓰기 실패")]
    assert shown.startswith(
        "S3에 쓰기 실패: 로컬 스택이 실행 중이 아닙니다: `titanic-sm local up` 또는 `make run`을 실행하세요 "
        "(중지된 서비스: "
    ), shown
    assert f"상태 폴더: {folder})" in shown and "is not running" not in shown
    hints = [shown_text(c.value) for c in at.caption]
    assert any("`titanic-sm local status`" in h and HANGUL.search(h) for h in hints), hints


def test_instance_warnings_and_exclusion_details_are_korean(
    page: Callable[..., AppTest], app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A region the shipped price snapshot does not cover: the decision warns, and excludes for no price.
    monkeypatch.setenv("TITANIC_SM_REGION", "ap-southeast-7")
    at = page("pages/2_Instance.py", lang="ko").run()
    assert not at.exception
    warnings = [shown_text(w.value) for w in at.warning]
    assert (
        "가격 스냅샷에 ap-southeast-7의 가격이 없습니다: 모든 유형이 가격 없음으로 제외됩니다" in warnings
    ), warnings
    table = next(d.value for d in at.dataframe if "details" in d.value.columns)
    details = list(table["details"])
    assert details and all("가격 없음: ap-southeast-7의 가격 스냅샷에 없습니다" in d for d in details), (
        details
    )
    assert not any("price snapshot" in d for d in details), details
    english = page("pages/2_Instance.py").run()
    warned = [shown_text(w.value) for w in english.warning]
    assert (
        "the price snapshot has no prices for ap-southeast-7: every type is excluded for no price" in warned
    )
    english_table = next(d.value for d in english.dataframe if "details" in d.value.columns)
    assert all(
        "no price: not in the price snapshot for ap-southeast-7" in d for d in english_table["details"]
    )


def test_a_job_the_container_refused_is_explained_in_korean_on_the_jobs_page(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    from container import hyperparameters
    from container.errors import failure_reason

    with pytest.raises(hyperparameters.HyperparameterError) as refused:
        hyperparameters.parse({"num_leaves": "1.5"})
    line, exit_code = failure_reason(refused.value)  # the container's output/failure
    store = JobStore(app_settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-ui-refused", instance_type="ml.m5.large")
    # As the worker records it: its stage and job words, then SageMaker's FailureReason.
    reason = f"fit: job {job.job_name} failed: AlgorithmError: {line}, exit code: {exit_code}"
    store.set_status(job.id, "Failed", failure_reason=reason)
    at = page("pages/4_Jobs.py", lang="ko").run()
    assert not at.exception
    assert errors(at)[0] == (
        "실패 원인: fit: 작업 titanic-ui-refused이(가) 실패했습니다: AlgorithmError: "
        "하이퍼파라미터 num_leaves='1.5'은(는) 정수가 아닙니다, exit code: 1"
    ), errors(at)
    english = page("pages/4_Jobs.py").run()
    assert errors(english)[0] == f"Failure reason: {reason}"
