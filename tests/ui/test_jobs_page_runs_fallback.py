"""The Jobs page after the local stack went away (or lost a job's S3 objects): a completed job's
metrics come from the model.tar.gz its run downloaded into runs/<job>/, with one line saying so,
instead of an error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from test_jobs_page import PAGE, trained_model  # noqa: F401 -- the session's tiny real model
from ui_helpers import errors, texts

from services import local_stack
from services.jobs import JobStore
from services.settings import Settings


def _completed_job_with_only_a_local_copy(
    settings: Settings, name: str, tarball: bytes, metrics: Any
) -> None:
    """A completed job whose model.tar.gz is in runs/<job>/ but not (or no longer) in S3."""
    store = JobStore(settings.job_store_path)
    job, _ = store.create(target="local", job_name=name, instance_type="ml.m5.large")
    store.set_status(job.id, "InProgress", secondary_status="Training")
    store.set_status(
        job.id,
        "Completed",
        secondary_status="Completed",
        artifact_uri=f"s3://{settings.bucket}/{settings.prefix}/jobs/{name}/output/model.tar.gz",
        validation_accuracy=metrics["validation"]["accuracy"],
        validation_auc=metrics["validation"]["roc_auc"],
    )
    run_dir = settings.runs_dir / name
    run_dir.mkdir(parents=True)
    (run_dir / "model.tar.gz").write_bytes(tarball)


@pytest.mark.parametrize("stack_running", [False, True], ids=["stack-down", "s3-object-gone"])
def test_a_finished_jobs_metrics_come_from_runs_when_s3_cannot_give_them(
    page: Callable[..., AppTest],
    app_settings: Settings,
    trained_model: tuple[bytes, dict[str, Any]],  # noqa: F811 -- the imported fixture
    monkeypatch: pytest.MonkeyPatch,
    stack_running: bool,
) -> None:
    tarball, metrics = trained_model
    name = "titanic-ui-runs-copy"
    _completed_job_with_only_a_local_copy(app_settings, name, tarball, metrics)
    if stack_running:  # the stack answers, but its S3 has no such object (say, a lost recording)
        up = [
            local_stack.ServiceStatus(
                n, None, None, running=True, healthy=True, log=app_settings.state_dir / n
            )
            for n in local_stack.SERVICES
        ]
        monkeypatch.setattr(local_stack, "status", lambda settings: up)
    at = page(PAGE).run()
    assert not at.exception
    assert not errors(at), errors(at)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Accuracy"] == f"{metrics['validation']['accuracy']:.3f}"
    shown = texts(at)
    where = str(app_settings.runs_dir / name)
    line = next(line for line in shown.splitlines() if f"`{where}`" in line)  # the one line saying so
    if stack_running:
        assert line.startswith("S3 no longer gives this job's artifact"), line
        assert "artifact missing: s3://" in line, line  # the cause, named
    else:
        assert line.startswith("The local stack is not running, so the metrics and model are shown"), line
    assert len(at.get("download_button")) == 2
