"""`make bench-ui` (second part): the Jobs page with 10,000 jobs in the store, in headless chromium.

Seeds a fresh job store with 10,000 finished jobs (each with its phase transitions, launch
request and a metrics document of realistic size), then prints:
- the service reads the page makes (one page, the total, the phases of the page's jobs; and a
  filtered, searched page), median of 5;
- ``Jobs page, 10000 jobs: N s``: from clicking the Jobs link to the history table shown and the
  page's script run finished, median of 3 loads in headless chromium (goal <= 2 s); then the
  same with 10 jobs, so a loaded machine's slowness is told apart from the history's size.

No Docker or local stack is needed: the Jobs page only reads the store. Run from the
repository root: ``.venv/bin/python tests/ui/bench_jobs.py [--jobs N] [--no-browser]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # browser.py beside this file
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # benchmarks/, which is not installed

from benchmarks.bench_stats import load_average, load_note, machine_line
from container import hyperparameters as schema
from services.jobs import detail as job_detail
from services.jobs.store import JobStore
from services.settings import Settings

JOBS = 10_000
BASELINE_JOBS = 10
GOAL_SECONDS = 2.0
PAGE_SIZE = 50
PHASE_SPANS = (
    ("Starting", 2.0, 40.0),
    ("Downloading", 0.5, 8.0),
    ("Training", 3.0, 120.0),
    ("Uploading", 0.5, 5.0),
)


def _metrics(rng: random.Random, hp: dict[str, object]) -> dict[str, object]:
    accuracy = round(rng.uniform(0.76, 0.84), 4)
    features = ["sex", "pclass", "age", "fare", "title", "family_size", "deck", "ticket_group", "embarked"]
    return {
        "schema_version": 1,
        "hyperparameters": hp,
        "validation": {"accuracy": accuracy, "roc_auc": round(accuracy + 0.05, 4), "log_loss": 0.42},
        "cv": {
            "folds": 5,
            "accuracy": {"mean": accuracy - 0.01, "std": 0.02},
            "roc_auc": {"mean": accuracy + 0.04, "std": 0.02},
        },
        "feature_importance": {name: rng.randint(1, 200) for name in features},
        "rows": {"train": 1047, "validation": 262},
        "training_seconds": round(rng.uniform(0.1, 0.4), 4),
    }


def seed_jobs(path: Path, count: int, seed: int = 7) -> None:
    """``count`` finished jobs written in one transaction (through the store's own schema)."""
    JobStore(path).migrate()
    rng = random.Random(seed)
    now = time.time()
    jobs: list[tuple[object, ...]] = []
    transitions: list[tuple[object, ...]] = []
    for number in range(count):
        job_id = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
        created = now - (count - number) * 60.0
        status = rng.choices(["Completed", "Failed", "Stopped"], weights=[90, 7, 3])[0]
        hp = {
            "num_leaves": str(rng.choice([4, 8, 16, 32])),
            "learning_rate": str(rng.choice([0.01, 0.03, 0.1])),
        }
        metrics = _metrics(rng, schema.parse(hp)) if status == "Completed" else {}
        at = created
        marks = [("Pending", None, at)]
        for phase, low, high in PHASE_SPANS:
            at += rng.uniform(0.1, 1.0)
            marks.append(("InProgress", phase, at))
            at += rng.uniform(low, high)
            if status != "Completed" and phase == "Training":
                break
        marks.append((status, status, at))
        transitions.extend((job_id, s, secondary, None, t) for s, secondary, t in marks)
        validation = metrics.get("validation", {}) if metrics else {}
        jobs.append(
            (
                job_id,
                rng.choice(["local", "local", "aws"]),
                f"titanic-bench-{number:05d}",
                status,
                status,
                rng.choice(["ml.m5.large", "ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge"]),
                "127.0.0.1:5000/titanic-training@sha256:" + f"{number % 7:x}" * 64,
                json.dumps({"train": "s3://titanic-sm-local/titanic/datasets/v1/train/"}),
                json.dumps(hp, sort_keys=True),
                json.dumps(metrics, sort_keys=True),
                "fit: job failed: out of memory" if status == "Failed" else None,
                f"v{number % 5}",
                json.dumps({"launch": {"hyperparameters": hp, "max_run_seconds": 3600}}),
                validation.get("accuracy") if isinstance(validation, dict) else None,
                round(rng.uniform(0.0001, 0.001), 6),
                at - marks[1][2],
                created,
                at,
            )
        )
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO jobs (id, target, job_name, status, secondary_status, instance_type, image_uri, "
                "channels, hyperparameters, metrics, failure_reason, dataset_version, request, "
                "validation_accuracy, estimated_cost, training_seconds, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                jobs,
            )
            conn.executemany(
                "INSERT INTO transitions (job_id, status, secondary_status, message, at) "
                "VALUES (?, ?, ?, ?, ?)",
                transitions,
            )
    finally:
        conn.close()


def _median(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def service_figures(store: JobStore) -> dict[str, float]:
    def first_page() -> None:
        page = store.page(limit=PAGE_SIZE)
        job_detail.phase_history(store, page.jobs)
        job_detail.effective_hyperparameters(page.jobs[0])

    def filtered_page() -> None:
        page = store.page(statuses=["Completed"], targets=["local"], text="m5.x", limit=PAGE_SIZE, offset=100)
        job_detail.phase_history(store, page.jobs)

    def last_page() -> None:
        store.page(offset=10**9, limit=PAGE_SIZE)

    return {
        "page + total + phases (newest 50)": _median(first_page, 5),
        "filtered + searched page (status, target, text, offset 100)": _median(filtered_page, 5),
        "last page": _median(last_page, 5),
    }


def browser_figure(state_root: Path, loads: int = 3) -> tuple[list[float], list[float]]:
    """Seconds from clicking the Jobs link to the history table shown and the script run done,
    per load (as bench_ui.py measures its pages: a client-side switch from Home, session kept),
    and the 1-minute load average after each."""
    from browser import app_environment, chromium, streamlit_server, wait_for, wait_idle
    from selenium.webdriver.common.by import By

    env = app_environment(state_root)
    times: list[float] = []
    load: list[float] = []
    with streamlit_server(env, state_root / "streamlit.log") as url, chromium() as driver:
        for _ in range(loads):
            driver.get(f"{url}/?lang=en")  # Home, untimed: the Jobs page is what is measured
            wait_for(driver, lambda d: d.find_elements(By.TAG_NAME, "h1"), 60, "the Home page")
            wait_idle(driver, 60)
            # The sidebar's link to the page, whatever its label's language.
            link = wait_for(
                driver,
                lambda d: next(
                    (
                        a
                        for a in d.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebar'] a")
                        if (a.get_attribute("href") or "").endswith("/Jobs")
                    ),
                    None,
                ),
                60,
                "the sidebar link to the Jobs page",
            )
            started = time.monotonic()
            link.click()
            wait_for(
                driver,
                lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame']"),
                120,
                "the history table",
            )
            wait_idle(driver, 120)
            times.append(time.monotonic() - started)
            load.append(load_average())
    return times, load


def _each(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=JOBS, help="jobs to seed")
    parser.add_argument(
        "--baseline",
        type=int,
        default=BASELINE_JOBS,
        help="also time the page with this few jobs, on the same machine in the same run (0: skip)",
    )
    parser.add_argument("--no-browser", action="store_true", help="service figures only")
    parser.add_argument("--loads", type=int, default=3, help="page loads to time (median and range)")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="titanic-sm-bench-jobs-") as temp:
        root = Path(temp)
        settings = Settings(state_dir=root / "state")
        started = time.perf_counter()
        seed_jobs(settings.job_store_path, args.jobs)
        store = JobStore(settings.job_store_path)
        print(f"seeded {store.page(limit=1).total} jobs in {time.perf_counter() - started:.1f} s")
        for name, seconds in service_figures(store).items():
            print(f"Jobs service, {args.jobs} jobs, {name}: {seconds:.4f} s")
        if args.no_browser:
            return 0
        times, load = browser_figure(root, args.loads)
        figure = statistics.median(times)
        verdict = "ok" if figure <= GOAL_SECONDS else "MISSED"
        print(
            f"Jobs page, {args.jobs} jobs: {figure:.2f} s (median of {len(times)}, "
            f"range {min(times):.2f}-{max(times):.2f} s: {_each(times)}; {load_note(load)}; "
            f"goal <= {GOAL_SECONDS:g} s {verdict})"
        )
        if args.baseline:
            # The same page with a small history: what the history's size adds, whatever the load.
            small = root / "baseline"
            seed_jobs(Settings(state_dir=small / "state").job_store_path, args.baseline)
            base_times, base_load = browser_figure(small, args.loads)
            print(
                f"Jobs page, {args.baseline} jobs (baseline, same run): "
                f"{statistics.median(base_times):.2f} s (median of {len(base_times)}, "
                f"range {min(base_times):.2f}-{max(base_times):.2f} s: {_each(base_times)}; "
                f"{load_note(base_load)})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
