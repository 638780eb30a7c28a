"""The language: every page in Korean and in English, the sidebar switch, ?lang= and the
browser's Accept-Language. What a page says comes from the catalogue (tests/unit/test_app_catalogue.py
scans app/ for text that bypasses it); here each page runs in both languages, so a key built at
run time that the catalogue lacks fails too."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import streamlit
from streamlit.testing.v1 import AppTest
from ui_helpers import errors

from services import messages
from services.jobs.store import JobStore
from services.settings import Settings

PAGES = ("Home.py", "pages/1_Data.py", "pages/2_Instance.py", "pages/3_Train.py", "pages/4_Jobs.py")
TITLES = {
    "Home.py": "home.title",
    "pages/1_Data.py": "data.title",
    "pages/2_Instance.py": "instance.title",
    "pages/3_Train.py": "train.title",
    "pages/4_Jobs.py": "jobs.title",
}


def seed_history(settings: Settings) -> None:
    """A completed and a failed job, so the Jobs page draws its history, detail and compare."""
    store = JobStore(settings.job_store_path)
    for name, status in (("titanic-lang-a", "Completed"), ("titanic-lang-b", "Failed")):
        job, _ = store.create(target="local", job_name=name, instance_type="ml.m5.large")
        store.set_status(job.id, "InProgress", secondary_status="Training")
        store.set_status(
            job.id, status, secondary_status=status, failure_reason="x" if status == "Failed" else None
        )


@pytest.mark.parametrize("lang", messages.LANGUAGES)
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_in_both_languages(
    page: Callable[..., AppTest], app_settings: Settings, path: str, lang: str
) -> None:
    seed_history(app_settings)
    at = page(path, lang=lang).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [
        e for e in errors(at) if not e.startswith(messages.text("common.failure_reason", lang, reason=""))
    ] == []
    assert at.title[0].value == messages.text(TITLES[path], lang)
    other = "en" if lang == "ko" else "ko"
    assert at.title[0].value != messages.text(TITLES[path], other)
    assert at.sidebar.radio(key="language_switch").value == lang
    if path == "pages/4_Jobs.py":  # its Compare tab runs only when opened: open it too
        at.session_state["jobs_tab"] = messages.text("jobs.tab_compare", lang)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.multiselect(key="compare_jobs").label == messages.text("jobs.compare_pick", lang)


def test_the_sidebar_switch_changes_the_language_and_the_link(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    at = page("pages/1_Data.py", lang="ko").run()
    assert at.title[0].value == "1 · 데이터"
    at.sidebar.radio(key="language_switch").set_value("en").run()
    assert at.title[0].value == "1 · Data"
    assert at.query_params["lang"] == "en"  # a copied link opens in English
    assert at.button(key="write_to_s3").label == "Write to S3"


class _FakeContext:
    def __init__(self, accept_language: str | None, locale: str | None = None) -> None:
        self.headers = {"Accept-Language": accept_language} if accept_language else {}
        self.locale = locale


@pytest.mark.parametrize(
    ("accept_language", "locale", "expected"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8", None, "ko"),
        ("en-US,en;q=0.9", None, "en"),
        ("en;q=0.5,ko-KR", None, "ko"),  # by weight, not by position
        ("fr-FR", None, "ko"),
        (None, None, "ko"),
        (None, "en-US", "en"),  # no header (a proxy dropped it): the browser's navigator.language
        ("ko-KR,ko", "en-US", "ko"),  # the header first
    ],
)
def test_without_lang_the_browser_language_decides_and_korean_when_unknown(
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    accept_language: str | None,
    locale: str | None,
    expected: str,
) -> None:
    from conftest import APP_DIR, PAGE_TIMEOUT_SECONDS

    monkeypatch.setattr(streamlit, "context", _FakeContext(accept_language, locale))
    at = AppTest.from_file(str(APP_DIR / "Home.py"), default_timeout=PAGE_TIMEOUT_SECONDS).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == messages.text("home.title", expected)
    assert at.query_params["lang"] == expected


def test_lang_in_the_link_wins_over_the_browser(
    app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import APP_DIR, PAGE_TIMEOUT_SECONDS

    monkeypatch.setattr(streamlit, "context", _FakeContext("ko-KR,ko"))
    at = AppTest.from_file(str(APP_DIR / "Home.py"), default_timeout=PAGE_TIMEOUT_SECONDS)
    at.query_params["lang"] = "en"
    at.run()
    assert at.title[0].value == messages.text("home.title", "en")
