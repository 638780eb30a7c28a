"""Each stage of `titanic-sm run` timed, cold and warm (`make bench-run`):
``python -m benchmarks.bench_run`` on the stack of the ``TITANIC_SM_*`` settings.

Cold is a fresh state dir (a new stack, an empty bucket, the image pushed again; the Docker build
cache is kept), warm is everything cached; the fit's overhead is the fit stage's wall time minus
the container's own run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.pipeline import PipelineResult, StageError, run_pipeline
from services.settings import Settings

__all__ = ["bench", "container_seconds"]


def container_seconds(training_job: Mapping[str, Any]) -> float | None:
    """How long the container itself ran: its Training phase in SageMaker's secondary transitions."""
    for transition in training_job.get("SecondaryStatusTransitions") or []:
        if transition.get("Status") == "Training" and transition.get("EndTime"):
            return float(transition["EndTime"]) - float(transition["StartTime"])
    return None


def bench(settings: Settings) -> int:
    """Each stage's wall time, cold (a fresh state dir: new stack, empty bucket, the image pushed
    again; the Docker build cache is kept) and warm (everything cached), and the fit's overhead:
    the fit stage's wall time minus the container's own run."""
    from services import local_stack
    from services.jobs import JobStore

    state = Path(tempfile.mkdtemp(prefix="titanic-bench-"))
    cold_settings = replace(
        settings, state_dir=state / "state", runs_dir=state / "runs", data_dir=state / "data"
    )
    rows: list[tuple[str, PipelineResult, float, float | None]] = []
    try:
        for label in ("cold", "warm"):
            started = time.monotonic()
            result = run_pipeline(cold_settings, hyperparameters={"num_leaves": 7})
            total = time.monotonic() - started
            job = JobStore(cold_settings.job_store_path).get(result.job_id)
            rows.append((label, result, total, container_seconds(job.training_job)))
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        local_stack.stop(cold_settings)
        shutil.rmtree(state, ignore_errors=True)
    print(f"{'stage':<16}" + "".join(f"{label:>10}" for label, _, _, _ in rows))
    for stage in ("stack", "data", "upload", "image", "build", "push", "fit", "verify", "download"):
        print(f"{stage:<16}" + "".join(f"{r.seconds.get(stage, 0.0):>9.1f}s" for _, r, _, _ in rows))
    print(f"{'total':<16}" + "".join(f"{total:>9.1f}s" for _, _, total, _ in rows))
    print(f"{'container run':<16}" + "".join(_seconds(ran) for _, _, _, ran in rows))
    print(
        f"{'fit overhead':<16}"
        + "".join(_seconds(r.seconds.get("fit", 0.0) - ran if ran else None) for _, r, _, ran in rows)
    )
    print("cold: a fresh state dir (stack and bucket new; image pushed again; Docker build cache kept)")
    print("fit overhead: the fit stage's wall time minus the container's run (its Training phase)")
    return 0


def _seconds(value: float | None) -> str:
    return f"{value:>9.1f}s" if value is not None else f"{'n/a':>10}"


if __name__ == "__main__":
    import logging

    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    # As in `titanic-sm run`: the SDK's import-time INFO logging would bury the table.
    for name in ("sagemaker", "sagemaker.config"):
        logging.getLogger(name).setLevel(logging.WARNING)
    sys.exit(bench(Settings.from_env()))
