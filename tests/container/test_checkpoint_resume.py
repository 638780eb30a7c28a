"""SIGTERM mid-training stops within seconds leaving a checkpoint; a restart resumes from it.

Real subprocess, real signal: the trainer is started as the image starts it, slowed with the
documented round_delay_seconds so the signal lands mid-boosting.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib

from container.checkpointing import CHECKPOINT_FILE
from container.contract import BASE_DIR_ENV

TreeFactory = Callable[..., Any]
REPO_ROOT = Path(__file__).resolve().parents[2]
SLOW = {"cv_folds": "0", "n_estimators": "150", "checkpoint_every": "10", "round_delay_seconds": "0.05"}


def _start(base: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "container.train", "train"],
        cwd=REPO_ROOT,
        env={**os.environ, BASE_DIR_ENV: str(base), "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _terminate_after_first_checkpoint(process: subprocess.Popen[str]) -> tuple[float, list[str]]:
    """Wait for a checkpoint line, send SIGTERM, return (seconds to exit, stdout lines)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if "checkpoint: saved 20 rounds" in line:
            break
    else:
        raise AssertionError("no checkpoint line before the trainer exited:\n" + "\n".join(lines))
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    return time.monotonic() - sent, lines + rest.splitlines()


def test_sigterm_checkpoints_then_restart_resumes(sagemaker_tree: TreeFactory) -> None:
    paths = sagemaker_tree(hyperparameters=SLOW, validation=None)
    process = _start(paths.base)
    seconds, stdout = _terminate_after_first_checkpoint(process)

    assert process.returncode == 143
    assert seconds < 5
    failure = paths.failure_file.read_text()
    assert failure.startswith("Training stopped by SIGTERM after ")
    assert "checkpoint saved to" in failure
    assert not paths.model_file.exists()
    checkpoint = json.loads((paths.checkpoint_dir / CHECKPOINT_FILE).read_text())
    stopped_at = checkpoint["rounds"]
    assert 20 <= stopped_at < 150
    assert f"Training stopped by SIGTERM after {stopped_at} boosting rounds" in failure
    assert any(f"checkpoint: saved {stopped_at} rounds" in line for line in stdout)
    # The rename left no temporary files behind.
    assert [p.name for p in paths.checkpoint_dir.iterdir()] == [CHECKPOINT_FILE]

    paths.hyperparameters_file.write_text(json.dumps({**SLOW, "round_delay_seconds": "0"}))
    restarted = _start(paths.base)
    out, err = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, err
    assert f"checkpoint: resuming from {stopped_at} rounds" in out
    assert "round 10/150" not in out  # the early rounds were not boosted again
    assert not paths.failure_file.exists()
    metrics = json.loads(paths.metrics_file.read_text())
    assert metrics["resumed_from_checkpoint"] is True
    assert metrics["best_iteration"] == 150
    booster = joblib.load(paths.model_file).named_steps["classifier"].booster_
    assert booster.current_iteration() == 150


def test_checkpoint_for_other_data_is_reported_and_not_resumed(
    sagemaker_tree: TreeFactory, run_trainer: Callable[..., Any], passenger_factory: Callable[..., Any]
) -> None:
    paths = sagemaker_tree(hyperparameters=SLOW, validation=None)
    process = _start(paths.base)
    _terminate_after_first_checkpoint(process)
    assert process.returncode == 143

    passenger_factory(400, seed=9).to_csv(paths.channel_dir("train") / "train.csv", index=False)
    paths.hyperparameters_file.write_text(json.dumps({**SLOW, "round_delay_seconds": "0"}))
    result = run_trainer(paths, "train")
    assert result.returncode == 0, result.stderr
    assert "it was written for other data or hyperparameters; starting from scratch" in result.stdout
    assert json.loads(paths.metrics_file.read_text())["resumed_from_checkpoint"] is False


def test_sigterm_without_checkpointing_still_stops_and_says_so(sagemaker_tree: TreeFactory) -> None:
    paths = sagemaker_tree(hyperparameters={**SLOW, "checkpoint_every": "0"}, validation=None)
    process = _start(paths.base)
    assert process.stdout is not None
    for line in process.stdout:
        if "round 25/150" in line:
            break
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 143
    assert "no checkpoint (checkpoint_every=0)" in paths.failure_file.read_text()
    assert not paths.checkpoint_dir.exists()
