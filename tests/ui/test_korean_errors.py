"""Korean pages show service errors in Korean: a bad CSV, a refused instance and a refused launch
are worded from the error's code and values by the message catalogue, not shown as English."""

from __future__ import annotations

import re
from collections.abc import Callable

from streamlit.testing.v1 import AppTest
from test_data_page import HEADER, good_rows, upload
from ui_helpers import errors, texts

from services import instances
from services.jobs import JobStore
from services.settings import Settings

HANGUL = re.compile(r"[\uac00-\ud7a3]")


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
