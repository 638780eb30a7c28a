"""The whole product path in a real headless chromium, against the real local stack.

Open the app → bundled dataset → write to S3 → use the recommended instance → launch a local
job → log lines stream → Completed → the ROC chart. The job really runs: the worker builds and
pushes the image (reused from Docker's cache when the container code is unchanged) and SageMaker
local mode runs it through Docker.
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
    wait_text,
)
from selenium import webdriver
from selenium.webdriver.common.by import By

from services import instances, local_stack
from services.jobs import JobStore
from services.settings import Settings

OUTPUT_DIR = REPO_ROOT / "test-output"
# A cold CI machine builds the offline base and the image inside the first job.
JOB_TIMEOUT_SECONDS = 900


def roc_chart_shown(driver: webdriver.Chrome) -> bool:
    return bool(driver.find_elements(By.XPATH, "//*[name()='text' and contains(., 'ROC curve')]"))


def test_bundled_data_to_completed_job_with_roc_chart(tmp_path: Path) -> None:
    env = app_environment(tmp_path)
    settings = Settings.from_env(env)
    recommended = instances.gather(settings).on_demand.chosen
    assert recommended
    try:
        with streamlit_server(env, OUTPUT_DIR / "browser-flow-streamlit.log") as url, chromium() as driver:
            driver.get(url)
            wait_text(driver, "Titanic survival on SageMaker", 60)

            open_page(driver, "Data")
            wait_text(driver, "Valid: 1309 rows", 60)
            click(driver, "Write to S3")
            wait_text(driver, "Uploaded dataset version", 120)
            version = page_text(driver).split("Uploaded dataset version", 1)[1].split()[0]

            open_page(driver, "Instance")
            wait_text(driver, f"Recommended (on-demand): {recommended}", 60)
            click(driver, "Use this instance")
            wait_text(driver, f"Next launch uses {recommended}", 30)

            open_page(driver, "Train")
            wait_text(driver, version, 30)
            click(driver, "Launch")
            wait_text(driver, "trainer:", JOB_TIMEOUT_SECONDS)  # a streamed CloudWatch log line
            lines_seen_while_running = "Completed:" not in page_text(driver)
            wait_text(driver, "Completed:", JOB_TIMEOUT_SECONDS)
            wait_for(driver, roc_chart_shown, 60, "the ROC chart")
            chart = driver.find_element(By.XPATH, "//*[name()='text' and contains(., 'ROC curve')]")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
            OUTPUT_DIR.mkdir(exist_ok=True)
            driver.save_screenshot(str(OUTPUT_DIR / "browser-flow.png"))
    finally:
        local_stack.stop(settings)

    assert lines_seen_while_running, "log lines must stream before the job completes"
    jobs = JobStore(settings.job_store_path).list()
    assert len(jobs) == 1, [j.job_name for j in jobs]  # one click, one job
    job = jobs[0]
    assert job.status == "Completed", job.failure_reason
    assert job.instance_type == recommended
    assert job.dataset_version == version
    assert job.validation_auc is not None and 0.8 < job.validation_auc < 0.99
