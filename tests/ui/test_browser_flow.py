"""The whole product path in a real headless chromium, in Korean, against the real local stack.

The browser asks for Korean (Accept-Language ko-KR), as a Korean user's does, and the dashboard
answers in Korean without any ?lang=. Open the app → bundled dataset → write to S3 → use the
recommended instance → launch a local job → log lines stream → Completed → the ROC chart. The
job really runs: the worker builds and pushes the image (reused from Docker's cache when the
container code is unchanged) and runs it through Docker. A screenshot of each page is left in
test-output/ (browser-flow-ko-*.png).
"""

from __future__ import annotations

from pathlib import Path

from browser import (
    REPO_ROOT,
    app_environment,
    chromium,
    click,
    open_page,
    page_text,
    streamlit_server,
    wait_for,
    wait_idle,
    wait_text,
)
from selenium import webdriver
from selenium.webdriver.common.by import By

from services import messages
from services.instance import instances
from services.jobs.store import JobStore
from services.local import stack as local_stack
from services.settings import Settings

OUTPUT_DIR = REPO_ROOT / "test-output"
# A cold CI machine builds the offline base and the image inside the first job.
JOB_TIMEOUT_SECONDS = 900
KO = "ko"


def say(key: str, **values: object) -> str:
    return messages.text(key, KO, **values)


def roc_chart_shown(driver: webdriver.Chrome) -> bool:
    title = say("chart.roc")
    return bool(driver.find_elements(By.XPATH, f"//*[name()='text' and contains(., {title!r})]"))


def shot(driver: webdriver.Chrome, name: str) -> None:
    wait_idle(driver)
    driver.execute_script("document.querySelector('h1').scrollIntoView({block: 'start'});")
    OUTPUT_DIR.mkdir(exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / f"browser-flow-ko-{name}.png"))


def test_bundled_data_to_completed_job_with_roc_chart_in_korean(tmp_path: Path) -> None:
    env = app_environment(tmp_path)
    settings = Settings.from_env(env)
    recommended = instances.gather(settings).on_demand.chosen
    assert recommended
    try:
        with (
            streamlit_server(env, OUTPUT_DIR / "browser-flow-streamlit.log") as url,
            chromium(accept_language="ko-KR,ko") as driver,
        ):
            driver.get(url)
            wait_text(driver, "SageMaker로 Titanic 생존 예측", 60)
            shot(driver, "home")

            open_page(driver, say("nav.data"))
            wait_text(driver, "유효함: 1309행", 60)
            click(driver, say("data.write"))
            wait_text(driver, "업로드했습니다", 120)
            version = page_text(driver).split("데이터셋 버전 ", 1)[1].split("을(를)")[0].strip()
            shot(driver, "data")

            open_page(driver, say("nav.instance"))
            wait_text(driver, f"추천 (온디맨드): {recommended}", 60)
            click(driver, say("instance.use"))
            wait_text(driver, f"다음 실행은 {recommended}", 30)
            shot(driver, "instance")

            open_page(driver, say("nav.train"))
            wait_text(driver, version, 30)
            click(driver, say("train.launch"))
            wait_text(driver, "trainer:", JOB_TIMEOUT_SECONDS)  # a streamed CloudWatch log line
            lines_seen_while_running = "완료:" not in page_text(driver)
            wait_text(driver, "완료:", JOB_TIMEOUT_SECONDS)
            wait_for(driver, roc_chart_shown, 60, "the ROC chart")
            shot(driver, "train")

            open_page(driver, say("nav.jobs"))
            wait_for(driver, roc_chart_shown, 60, "the job's ROC chart on the Jobs page")
            shown = page_text(driver)
            shot(driver, "jobs")
    finally:
        local_stack.stop(settings)

    assert lines_seen_while_running, "log lines must stream before the job completes"
    assert say("jobs.tab_detail") in shown and say("metrics.accuracy") in shown
    jobs = JobStore(settings.job_store_path).list()
    assert len(jobs) == 1, [j.job_name for j in jobs]  # one click, one job
    job = jobs[0]
    assert job.status == "Completed", job.failure_reason
    assert job.instance_type == recommended
    assert job.dataset_version == version
    assert job.validation_auc is not None and 0.8 < job.validation_auc < 0.99
