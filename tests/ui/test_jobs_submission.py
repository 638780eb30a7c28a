"""The Jobs page's job detail writes the job's submission document and offers it as a zip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlit.testing.v1 import AppTest
from test_jobs_page import PAGE, store_completed_job, trained_model  # noqa: F401 -- the fixture is used by name

from services.settings import Settings


def test_the_job_detail_offers_the_submission_document(
    page: Callable[[str], AppTest],
    app_settings: Settings,
    trained_model: tuple[bytes, dict[str, Any]],  # noqa: F811 -- the imported fixture
) -> None:
    tarball, metrics = trained_model
    store_completed_job(app_settings, "titanic-ui-submission", tarball, metrics)
    at = page(PAGE).run()
    assert not at.exception
    assert not at.get("download_button") or all(
        b.proto.label != "Download the submission (.zip: Markdown + images)"
        for b in at.get("download_button")
    )
    at.radio(key="submission_lang").set_value("en").run()
    at.button(key="make_submission").click().run()
    assert not at.exception
    labels = [element.proto.label for element in at.get("download_button")]
    assert "Download the submission (.zip: Markdown + images)" in labels, labels
    written = app_settings.runs_dir / "titanic-ui-submission" / "submission" / "submission.en.md"
    markdown = written.read_text(encoding="utf-8")
    assert "`titanic-ui-submission`" in markdown and "## 7. Results" in markdown
