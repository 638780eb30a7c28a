"""UI tier fixtures: a moto server, an app environment pointing at it, and an AppTest factory.

Pages build their settings from TITANIC_SM_* variables (the app's edge), so each test sets
those to its own temp state dir and bucket. AppTest runs the page in this process, so standing the
test's moto server in for the running local stack (``local_stack.running_endpoints``, and what
the app's start would start) is enough for every S3/ECR/Logs call the page makes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services import local_stack
from services.settings import Settings

APP_DIR = Path(__file__).resolve().parents[2] / "app"
PAGE_TIMEOUT_SECONDS = 60


@pytest.fixture
def app_settings(tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings every page of this test builds from the environment, on this test's moto."""
    bucket = f"titanic-sm-ui-{uuid.uuid4().hex[:12]}"
    env = {
        "TITANIC_SM_TARGET": "local",
        "TITANIC_SM_STATE_DIR": str(tmp_path / "state"),
        "TITANIC_SM_RUNS_DIR": str(tmp_path / "runs"),
        "TITANIC_SM_DATA_DIR": str(tmp_path / "data"),
        "TITANIC_SM_BUCKET": bucket,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # This session's moto answers every service, SageMaker's API included (its jobs complete at
    # once), in place of a running local stack: what clients read, and what an edge would start.
    stack = local_stack.StackEndpoints(
        moto_url=moto_url, registry="127.0.0.1:0", state_dir=tmp_path / "stack", sagemaker_url=moto_url
    )
    monkeypatch.setattr(local_stack, "running_endpoints", lambda s: stack)
    monkeypatch.setattr(local_stack, "ensure_running", lambda s: stack)
    monkeypatch.syspath_prepend(str(APP_DIR))
    return Settings.from_env()


@pytest.fixture
def page(app_settings: Settings) -> Callable[..., AppTest]:
    """AppTest for one page script under app/, e.g. page("pages/1_Data.py"), opened as a link
    with ``?lang=`` would be (English unless ``lang="ko"``; the language tests cover both)."""

    def make(relative: str, lang: str = "en") -> AppTest:
        at = AppTest.from_file(str(APP_DIR / relative), default_timeout=PAGE_TIMEOUT_SECONDS)
        at.query_params["lang"] = lang
        return at

    return make
