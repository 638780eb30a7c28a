"""`make bench-ui`: the dashboard's timings in a real headless chromium against the real local stack.

Prints: cold page load, Launch click → first streamed log line (warm), Launch → metrics shown
(warm; each the median and range of ``--runs`` launches), and the Jobs page load with 200 jobs in
history, every figure with the 1-minute load average as it was taken. "Warm" means the image is pushed and
the stack is up: one job runs first to get there. With ``--screenshots DIR`` it also saves a
screenshot of each page in English and, switched in the sidebar, in Korean (``<page>-ko.png``;
docs/screenshots/ in the Makefile).

Run from the repository root: ``.venv/bin/python tests/ui/bench_ui.py [--screenshots DIR]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # browser.py beside this file
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # benchmarks/, which is not installed

from browser import (  # beside this file, found through the path above
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

from benchmarks.bench_stats import figure_line, load_average, machine_line
from services import messages
from services.jobs.store import JobStore
from services.local import stack as local_stack
from services.settings import Settings

GOALS = {
    "cold page load (Home)": 3.0,
    "Launch click → first streamed log line (warm)": 3.0,  # issue 8
    "Launch click → metrics shown (warm)": 60.0,
    "Jobs page load, 200 jobs in history": 2.0,
}
WARM_LAUNCHES = 3  # --runs: the warm launch figures are a median over this many jobs
HISTORY_SIZE = 200
JOB_TIMEOUT = 900.0
WAITING = "(waiting for the first log line…)"  # the Train page's empty log box


def log_text(driver: webdriver.Chrome) -> str:
    boxes = driver.find_elements(By.CSS_SELECTOR, ".st-key-log_box")
    return boxes[0].text if boxes else ""


def roc_chart_shown(driver: webdriver.Chrome) -> bool:
    return bool(driver.find_elements(By.XPATH, "//*[name()='text' and contains(., 'ROC curve')]"))


def current_job_name(driver: webdriver.Chrome) -> str | None:
    headers = [h.text for h in driver.find_elements(By.TAG_NAME, "h3") if h.text.startswith("Job ")]
    return headers[0].removeprefix("Job ").strip() if headers else None


def launch_and_watch(driver: webdriver.Chrome) -> tuple[float, float, float]:
    """Click Launch on the Train page; seconds to the new job's first streamed log line (any, e.g.
    the SDK's), to its first line from the training container, and to its ROC chart."""
    previous = current_job_name(driver)
    click(driver, "Launch")
    started = time.monotonic()
    try:
        wait_for(driver, lambda d: current_job_name(d) not in (None, previous), 60, "the new job's panel")
    except AssertionError as exc:  # say what the page shows instead (a refusal is one st.error line)
        raise AssertionError(f"{exc}; the page shows: {page_text(driver)[-1500:]}") from None
    wait_for(driver, lambda d: log_text(d).strip() not in ("", WAITING), JOB_TIMEOUT, "the first log line")
    first_line = time.monotonic() - started
    wait_for(driver, lambda d: "trainer:" in log_text(d), JOB_TIMEOUT, "the container's first log line")
    container_line = time.monotonic() - started
    wait_for(
        driver, lambda d: "Completed:" in page_text(d) and roc_chart_shown(d), JOB_TIMEOUT, "the metrics"
    )
    return first_line, container_line, time.monotonic() - started


def korean_shots(driver: webdriver.Chrome, shot: Callable[[webdriver.Chrome, str], None]) -> None:
    """The same session switched to Korean in the sidebar: each page again, as ``<page>-ko``."""
    driver.find_element(By.XPATH, "//*[@data-testid='stSidebar']//label[contains(., '한국어')]").click()
    wait_text(driver, messages.text("jobs.title", "ko"), 30)
    for name, link_key, heading_key in (
        ("home", "nav.home", "home.title"),
        ("data", "nav.data", "data.title"),
        ("instance", "nav.instance", "instance.title"),
        ("train", "nav.train", "train.title"),
        ("jobs", "nav.jobs", "jobs.title"),
    ):
        heading = messages.text(heading_key, "ko").removeprefix("🚢 ")
        open_page(driver, messages.text(link_key, "ko"), 60, heading=heading)
        if name in ("train", "jobs"):
            roc = messages.text("chart.roc", "ko")
            wait_for(
                driver,
                lambda d, roc=roc: d.find_elements(By.XPATH, f"//*[name()='text' and contains(., {roc!r})]"),
                60,
                "the ROC chart in Korean",
            )
        shot(driver, f"{name}-ko")
    driver.find_element(By.XPATH, "//*[@data-testid='stSidebar']//label[contains(., 'English')]").click()
    wait_text(driver, "4 · Jobs", 30)


def seed_history(settings: Settings, size: int) -> None:
    """Copies of the finished job, so the history has ``size`` rows with real artifacts."""
    store = JobStore(settings.job_store_path)
    model = store.list(statuses=["Completed"], limit=1)[0]
    for number in range(size - len(store.list())):
        job, _ = store.create(
            target="local", job_name=f"bench-history-{number:03d}", instance_type=model.instance_type
        )
        store.set_status(job.id, "InProgress", secondary_status="Training")
        store.set_status(
            job.id,
            "Completed",
            secondary_status="Completed",
            artifact_uri=model.artifact_uri,
            validation_accuracy=model.validation_accuracy,
            validation_auc=model.validation_auc,
            estimated_cost=model.estimated_cost,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each page here")
    parser.add_argument("--runs", type=int, default=WARM_LAUNCHES, help="warm launches to time")
    args = parser.parse_args()
    # Each figure's values (one per measurement) and the 1-minute load average as each was taken.
    figures: dict[str, list[float]] = {}
    loads: dict[str, list[float]] = {}

    def note(name: str, seconds: float) -> None:
        figures.setdefault(name, []).append(seconds)
        loads.setdefault(name, []).append(load_average())

    shots: dict[str, Path] = {}

    def shot(driver: webdriver.Chrome, name: str) -> None:
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            wait_idle(driver)  # mid-rerun, Streamlit shows stale elements beside the new ones
            # Streamlit scrolls its main section, not the window: bring the title back into view.
            driver.execute_script("document.querySelector('h1').scrollIntoView({block: 'start'});")
            shots[name] = args.screenshots / f"{name}.png"
            driver.save_screenshot(str(shots[name]))

    with tempfile.TemporaryDirectory(prefix="titanic-sm-bench-ui-") as temp:
        env = app_environment(Path(temp))
        settings = Settings.from_env(env)
        try:
            with streamlit_server(env, Path(temp) / "streamlit.log") as url, chromium() as driver:
                started = time.monotonic()
                driver.get(url)
                wait_text(driver, "Titanic survival on SageMaker", 30)
                note("cold page load (Home)", time.monotonic() - started)
                shot(driver, "home")

                started = time.monotonic()
                open_page(driver, "Data")
                wait_text(driver, "Valid: 1309 rows", 60)
                note("first Data page load (bundled dataset, charts)", time.monotonic() - started)
                click(driver, "Write to S3")
                wait_text(driver, "dataset version", 120)
                shot(driver, "data")

                started = time.monotonic()
                open_page(driver, "Instance")
                wait_text(driver, "Recommended (on-demand)", 60)
                note("first Instance page load (evidence gathered)", time.monotonic() - started)
                click(driver, "Use this instance")
                wait_text(driver, "Next launch uses", 30)
                shot(driver, "instance")

                open_page(driver, "Train")
                # The first job pushes the image to this fresh registry: the warm figures come after it.
                cold_first_line, _, cold_metrics = launch_and_watch(driver)
                note(
                    "Launch click → first streamed log line (first job: push to a fresh registry)",
                    cold_first_line,
                )
                note("Launch click → metrics shown (first job)", cold_metrics)
                for _ in range(max(args.runs, 1)):
                    first_line, container_line, metrics_shown = launch_and_watch(driver)
                    note("Launch click → first streamed log line (warm)", first_line)
                    note("Launch click → first line from the training container (warm)", container_line)
                    note("Launch click → metrics shown (warm)", metrics_shown)
                shot(driver, "train")
                chart = driver.find_element(By.XPATH, "//*[name()='text' and contains(., 'ROC curve')]")
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
                if args.screenshots:
                    driver.save_screenshot(str(args.screenshots / "train-metrics.png"))

                if args.screenshots:  # the real jobs, before the seeded history buries them
                    open_page(driver, "Jobs")
                    wait_for(driver, roc_chart_shown, 30, "the job's ROC chart")
                    shot(driver, "jobs")
                    korean_shots(driver, shot)

                seed_history(settings, HISTORY_SIZE)
                started = time.monotonic()
                open_page(driver, "Jobs")
                wait_for(
                    driver,
                    lambda d: (
                        d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame']")
                        and "Transitions" in page_text(d)
                    ),
                    30,
                    "the history table and the job detail",
                )
                note("Jobs page load, 200 jobs in history", time.monotonic() - started)
                wait_for(driver, roc_chart_shown, 30, "the job's ROC chart")
                note("Jobs page load, 200 jobs, with the job's charts", time.monotonic() - started)
        finally:
            local_stack.stop(settings)

    width = max(len(name) for name in figures)
    print(f"\n{machine_line()}")
    for name, values in figures.items():
        goal = GOALS.get(name)
        median = statistics.median(values)
        verdict = "" if goal is None else f"  goal ≤ {goal:g} s {'ok' if median <= goal else 'MISSED'}"
        print(figure_line(name, values, loads[name], width=width) + verdict)
    for name, path in shots.items():
        print(f"screenshot {name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
