"""Untrusted text is shown as text, in a real browser: a CSV whose cells and column names hold a
Markdown image, a Markdown link, a bare URL and raw HTML is uploaded on the Data page. Every one
of them points at a server on 127.0.0.1 that records each request; it must get none, and the
page must hold no link or image that points there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from browser import (
    REPO_ROOT,
    app_environment,
    chromium,
    open_page,
    page_text,
    streamlit_server,
    wait_for,
    wait_idle,
    wait_text,
)
from selenium import webdriver
from selenium.webdriver.common.by import By

from services.local import stack as local_stack
from services.settings import Settings

OUTPUT_DIR = REPO_ROOT / "test-output"
HEADER = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"


@contextmanager
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on a free loopback port that records the path of every request."""
    hits: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # the base class's signature
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def hostile(base: str, tag: str) -> str:
    """Markdown image, Markdown link, a bare URL and raw HTML, all aimed at ``base``."""
    return (
        f"![x]({base}/{tag}-image.png) [click here to fix]({base}/{tag}-link) {base}/{tag}-bare "
        f"<img src='{base}/{tag}-raw.png'> <a href='{base}/{tag}-anchor'>fix</a>"
    ).replace(",", " ")  # one CSV cell


def rows(count: int, name: str = "P") -> list[str]:
    return [
        f"{i},{i % 2},{1 + i % 3},{name}{i},{'female' if i % 2 else 'male'},{20 + i % 40},0,0,T{i},{7 + i},,S"
        for i in range(1, count + 1)
    ]


def pointing_at(driver: webdriver.Chrome, base: str) -> list[str]:
    """Links, images and resource fetches in the document that point at ``base``."""
    found = driver.execute_script(
        """
        const base = arguments[0];
        const out = [];
        const add = (kind, address) => { if (address.startsWith(base)) out.push(kind + ' ' + address); };
        for (const a of document.querySelectorAll('a[href]')) add('a', a.href);
        for (const i of document.querySelectorAll('img[src]')) add('img', i.src);
        for (const r of performance.getEntriesByType('resource')) add('fetch', r.name);
        return out;
        """,
        base,
    )
    return list(found)


def upload(driver: webdriver.Chrome, path: Path) -> None:
    field = wait_for(
        driver,
        lambda d: next(
            iter(d.find_elements(By.CSS_SELECTOR, "[data-testid='stFileUploader'] input[type='file']")), None
        ),
        90,
        "the file uploader",
    )
    field.send_keys(str(path))


def test_markdown_and_html_in_a_csv_stay_text(tmp_path: Path) -> None:
    env = app_environment(tmp_path)
    try:
        check_hostile_uploads(tmp_path, env)
    finally:
        local_stack.stop(Settings.from_env(env))  # the Data page's S3 reads started it


def check_hostile_uploads(tmp_path: Path, env: dict[str, str]) -> None:
    with recording_server() as (base, hits):
        valid = tmp_path / "hostile_valid.csv"
        extra = f"Note {hostile(base, 'header')}"
        lines = [f"{HEADER},{extra}"]
        lines += [f"{row},{hostile(base, 'cell')}" for row in rows(30)]
        lines[1] = lines[1].replace(",P1,", f",{hostile(base, 'name')},", 1)
        valid.write_text("\n".join(lines) + "\n", encoding="utf-8")
        invalid = tmp_path / "hostile_age.csv"
        bad = rows(30)
        bad[2] = bad[2].replace(",23,", f",{hostile(base, 'age')},")
        invalid.write_text("\n".join([HEADER, *bad]) + "\n", encoding="utf-8")

        with (
            streamlit_server(env, OUTPUT_DIR / "browser-untrusted-streamlit.log") as url,
            chromium() as driver,
        ):
            driver.get(f"{url}/?lang=en")
            wait_text(driver, "Titanic survival on SageMaker", 60)
            open_page(driver, "Data")
            wait_text(driver, "Valid: 1309 rows", 60)
            wait_idle(driver, 60)
            driver.find_element(By.XPATH, "//label[contains(., 'Upload a CSV')]").click()

            upload(driver, valid)
            wait_text(driver, "Valid: 30 rows", 60)
            wait_text(driver, "Ignored 1 column", 30)
            wait_idle(driver)
            shown_valid = page_text(driver)
            links_after_valid = pointing_at(driver, base)

            upload(driver, invalid)
            wait_for(
                driver, lambda d: "'Age'" in page_text(d) and "line 4" in page_text(d), 60, "the Age error"
            )
            wait_idle(driver)
            shown_invalid = page_text(driver)
            links_after_invalid = pointing_at(driver, base)
            OUTPUT_DIR.mkdir(exist_ok=True)
            driver.save_screenshot(str(OUTPUT_DIR / "browser-untrusted.png"))

    # The hostile text is there, as text the reader can see...
    assert f"{base}/header-link" in shown_valid.replace("\u2060", ""), shown_valid[-2000:]
    assert f"{base}/age-image.png" in shown_invalid.replace("\u2060", ""), shown_invalid[-2000:]
    # ...but nothing in it became a link or an image, and nothing was fetched.
    assert links_after_valid == [] and links_after_invalid == [], (links_after_valid, links_after_invalid)
    assert hits == [], hits
