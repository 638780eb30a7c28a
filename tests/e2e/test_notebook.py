"""notebooks/titanic_sagemaker.ipynb runs headless against the local stack and fails on any error."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from services.image import images
from services.image.images import ImageRef
from services.jobs.store import JobStore
from services.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "titanic_sagemaker.ipynb"


def test_the_notebook_runs_end_to_end(
    e2e_settings: Settings, training_image: ImageRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this environment: the notebook's Settings.from_env() is this session's.
    for name in ("target", "region", "state_dir", "runs_dir", "data_dir", "bucket", "prefix", "repository"):
        monkeypatch.setenv(f"TITANIC_SM_{name.upper()}", str(getattr(e2e_settings, name)))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    try:
        client.execute()  # raises CellExecutionError, naming the cell, on any error
    except CellExecutionError as exc:
        recorded = [
            (j.job_name, j.status, j.failure_reason) for j in JobStore(e2e_settings.job_store_path).list()
        ]
        pytest.fail(f"the notebook failed: {exc.ename}: {exc.evalue}; jobs: {recorded}", pytrace=False)

    outputs = "\n".join(
        output.get("text", "") + json.dumps(output.get("data", {}), ensure_ascii=False)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert f"이미지 URI (digest): {training_image.repository_uri}@sha256:" in outputs
    assert "상태: Completed" in outputs
    assert "validation:accuracy=" in outputs  # the container's own metric line, from the logs
    jobs = JobStore(e2e_settings.job_store_path).list(statuses=["Completed"])
    job = next(j for j in jobs if f"학습 작업: {j.job_name}" in outputs)
    assert job.image_uri == training_image.uri_with_digest
    assert (e2e_settings.runs_dir / job.job_name / "predictions.csv").is_file()
    document = (e2e_settings.runs_dir / job.job_name / "submission" / "submission.ko.md").read_text()
    # The image's revision label was read back (from Docker or the registry) and the key code
    # comes from git at that commit.
    revision = images.image_labels(e2e_settings, training_image.uri_with_digest) or {}
    commit = revision.get(images.REVISION_LABEL, "").removesuffix("-dirty")
    assert commit and f"`{commit}`" in document and "```dockerfile" in document
