"""The Home page: the sidebar's settings and local-stack health, and the latest job."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest
from ui_helpers import errors, texts

from services.jobs.store import JobStore
from services.settings import Settings


def test_sidebar_shows_target_settings_and_stack_health_without_credentials(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    store = JobStore(app_settings.job_store_path)
    job, _ = store.create(target="local", job_name="titanic-ui-home", instance_type="ml.m5.large")
    store.set_status(job.id, "Completed", validation_auc=0.9123)

    at = page("Home.py").run()
    assert not at.exception
    assert not errors(at), errors(at)
    sidebar = "\n".join(str(m.value) for m in at.sidebar.markdown)
    for shown in (app_settings.target, app_settings.region, app_settings.bucket, app_settings.repository):
        assert shown in sidebar
    assert app_settings.role_arn in sidebar
    # The test's stack state dir has no stack running: both services say so and a start button is offered.
    assert "stopped" in sidebar and "moto" in sidebar and "registry" in sidebar
    assert at.sidebar.button(key="start_local_stack")
    assert "testing" not in sidebar  # the (fake) credentials are never displayed
    assert "Latest job: titanic-ui-home · Completed · validation AUC 0.912" in texts(at)
