"""A real Streamlit server and Debian's headless chromium, for the browser flow and `make bench-ui`.

No browser is downloaded: /usr/bin/chromium and /usr/bin/chromedriver are used explicitly
(scripts/ensure-browser.sh installs them from Debian's packages).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1500,1100",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def app_environment(state_root: Path) -> dict[str, str]:
    """Environment for a dashboard whose state, runs and data all live under ``state_root``."""
    return {
        **os.environ,
        "TITANIC_SM_TARGET": "local",
        "TITANIC_SM_STATE_DIR": str(state_root / "state"),
        "TITANIC_SM_RUNS_DIR": str(state_root / "runs"),
        "TITANIC_SM_DATA_DIR": str(state_root / "data"),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }


@contextmanager
def streamlit_server(env: Mapping[str, str], log_path: Path, timeout: float = 60.0) -> Iterator[str]:
    """``streamlit run app/Home.py`` on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("streamlit")),
        "run",
        "app/Home.py",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {process.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit did not answer on {url} within {timeout:.0f} s; see {log_path}"
                )
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def chromium(accept_language: str = "en-US,en") -> Iterator[webdriver.Chrome]:
    """Debian's headless chromium with a fresh profile, asking for ``accept_language`` (the
    dashboard opens in Korean for "ko-KR,ko", as a Korean user's browser asks)."""
    with tempfile.TemporaryDirectory(prefix="titanic-sm-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--lang={accept_language.split(',')[0]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(
    driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], T], timeout: float, what: str
) -> T:
    """Poll ``condition(driver)`` until it is truthy; the failure names what was awaited."""
    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
        ).until(condition)
    except WebDriverException as exc:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}") from exc


def page_text(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text


def wait_text(driver: webdriver.Chrome, text: str, timeout: float = 30.0) -> None:
    wait_for(driver, lambda d: text in page_text(d), timeout, f"the text {text!r}")


def button(driver: webdriver.Chrome, label: str, timeout: float = 30.0) -> WebElement:
    xpath = f"//button[normalize-space(.)={label!r} and not(@disabled)]"
    return wait_for(
        driver, lambda d: next(iter(d.find_elements(By.XPATH, xpath)), None), timeout, f"the {label!r} button"
    )


def click(driver: webdriver.Chrome, label: str, timeout: float = 30.0) -> None:
    element = button(driver, label, timeout)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def _link_label(link: WebElement) -> str:
    """A sidebar page link's words, without its icon (the last line of the link's text)."""
    lines = [line.strip() for line in link.text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def open_page(driver: webdriver.Chrome, name: str, timeout: float = 30.0, heading: str | None = None) -> None:
    """Follow the sidebar link named ``name`` in the page's language (a client-side switch: the
    session and its choices are kept), until a heading holds ``heading`` (default: ``name``).
    app/ui.py draws these links; Streamlit's own list is off."""
    link = wait_for(
        driver,
        lambda d: next(
            (
                a
                for a in d.find_elements(
                    By.CSS_SELECTOR, "[data-testid='stSidebar'] a[data-testid='stPageLink-NavLink']"
                )
                if _link_label(a) == name or a.text.strip().endswith(name)
            ),
            None,
        ),
        timeout,
        f"the sidebar link {name!r}",
    )
    link.click()
    wait_for(
        driver,
        lambda d: d.find_elements(By.XPATH, f"//h1[contains(., {heading or name!r})]"),
        timeout,
        f"the {name} page",
    )


def wait_idle(driver: webdriver.Chrome, timeout: float = 30.0) -> None:
    """Until the script run ends (Streamlit shows a status widget while it runs)."""
    wait_for(
        driver,
        lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget'] *"),
        timeout,
        "the script run to finish",
    )
