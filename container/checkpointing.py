"""Stop on SIGTERM within seconds, and resume boosting from a checkpoint instead of starting over.

SageMaker sends SIGTERM when a job is stopped, hits its maximum runtime or loses its spot
instance, and kills the container 120 s later. The handler only raises a flag; the boosting
callback checks it after every round, writes a checkpoint and ends training. Checkpoints live
in ``/opt/ml/checkpoints`` (synced to ``checkpoint_s3_uri`` and restored when a job starts with
the same URI). A checkpoint is one JSON file holding the booster and a fingerprint of the data
and tree-shaping hyperparameters, written to a temporary file and renamed, so a reader sees
either the previous checkpoint or the new one, never half of one.

A resumed run continues boosting from the saved booster (LightGBM ``init_model``). Its later
bagging samples differ from an uninterrupted run's, so the two models are close, not identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from container.errors import TrainingStopped

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = [
    "CHECKPOINT_FILE",
    "Checkpoint",
    "StopSignal",
    "boosting_callback",
    "fingerprint",
    "load_checkpoint",
    "write_checkpoint",
]

CHECKPOINT_FILE = "booster-checkpoint.json"
CHECKPOINT_FORMAT = 1
# Hyperparameters that do not change the trees already grown, so a checkpoint survives them.
_RESUMABLE_CHANGES = frozenset(
    {"n_estimators", "early_stopping_rounds", "cv_folds", "checkpoint_every", "round_delay_seconds"}
)


class StopSignal:
    """Turns SIGTERM into a flag that training checks at safe points."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def install(self) -> StopSignal:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def check(self, where: str) -> None:
        """Raise TrainingStopped if SIGTERM arrived (used between phases and CV folds)."""
        if self.requested:
            raise TrainingStopped(f"Training stopped by SIGTERM {where}")


@dataclass(frozen=True)
class Checkpoint:
    booster: lgb.Booster
    rounds: int
    path: Path


def fingerprint(hyperparameters: Mapping[str, Any], data_sha256: Mapping[str, Any]) -> str:
    """What a checkpoint must match to be resumed: the data and the tree-shaping hyperparameters."""
    shaping = {key: value for key, value in hyperparameters.items() if key not in _RESUMABLE_CHANGES}
    payload = json.dumps({"hyperparameters": shaping, "data": data_sha256}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def write_checkpoint(
    directory: Path, booster: lgb.Booster, rounds: int, run_fingerprint: str, print_fn: Callable[[str], None]
) -> Path:
    """Atomically replace the checkpoint with ``booster``'s first ``rounds`` rounds."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CHECKPOINT_FILE
    temporary = directory / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp"
    document = {
        "format": CHECKPOINT_FORMAT,
        "rounds": rounds,
        "fingerprint": run_fingerprint,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "booster": booster.model_to_string(num_iteration=rounds),
    }
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    print_fn(f"checkpoint: saved {rounds} rounds to {target}")
    return target


def load_checkpoint(
    directory: Path, expected_fingerprint: str, print_fn: Callable[[str], None]
) -> Checkpoint | None:
    """The checkpoint in ``directory`` if there is one for this data and these hyperparameters.

    A checkpoint for other data or hyperparameters, or one that cannot be read, is reported
    on the log and training starts over (the next checkpoint replaces it).
    """
    path = directory / CHECKPOINT_FILE
    # A process killed mid-write leaves its temporary file; it is never a checkpoint.
    for leftover in directory.glob(f".{CHECKPOINT_FILE}.*.tmp") if directory.is_dir() else ():
        leftover.unlink(missing_ok=True)
        print_fn(f"checkpoint: removed unfinished {leftover.name}")
    if not path.is_file():
        return None
    import lightgbm as lgb  # only here and in the trainer: StopSignal is installed before lightgbm loads

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        rounds = int(document["rounds"])
        stored_fingerprint = str(document["fingerprint"])
        if int(document["format"]) != CHECKPOINT_FORMAT:
            raise ValueError(f"format {document['format']} is not {CHECKPOINT_FORMAT}")
        booster = lgb.Booster(model_str=document["booster"])
    except (OSError, ValueError, KeyError, TypeError, lgb.basic.LightGBMError) as exc:
        print_fn(f"checkpoint: ignoring unreadable {path} ({exc}); starting from scratch")
        return None
    if stored_fingerprint != expected_fingerprint:
        print_fn(
            f"checkpoint: ignoring {path}: it was written for other data or hyperparameters; "
            "starting from scratch"
        )
        return None
    if booster.current_iteration() != rounds:
        print_fn(
            f"checkpoint: ignoring {path}: it claims {rounds} rounds but holds {booster.current_iteration()}"
        )
        return None
    print_fn(f"checkpoint: resuming from {rounds} rounds in {path}")
    return Checkpoint(booster=booster, rounds=rounds, path=path)


def boosting_callback(
    *,
    stop: StopSignal,
    directory: Path,
    every: int,
    total_rounds: int,
    run_fingerprint: str,
    round_delay_seconds: float,
    print_fn: Callable[[str], None],
) -> Callable[[Any], None]:
    """A LightGBM callback: optional per-round delay, periodic checkpoints, stop on SIGTERM.

    Checkpoints are written every ``every`` rounds (0 = never) but not for the last round: a
    finished model is written as the artifact, and resuming needs at least one round to train.
    """

    def callback(env: Any) -> None:
        rounds = int(env.iteration) + 1
        if round_delay_seconds:
            time.sleep(round_delay_seconds)
        if rounds >= total_rounds:
            return  # finished: the trainer writes the model; a stop is handled at its next phase
        if stop.requested:
            where = f"after {rounds} boosting rounds"
            if every > 0:
                saved = write_checkpoint(directory, env.model, rounds, run_fingerprint, print_fn)
                raise TrainingStopped(f"Training stopped by SIGTERM {where}; checkpoint saved to {saved}")
            raise TrainingStopped(f"Training stopped by SIGTERM {where}; no checkpoint (checkpoint_every=0)")
        if every > 0 and rounds % every == 0:
            write_checkpoint(directory, env.model, rounds, run_fingerprint, print_fn)

    callback.order = 40  # type: ignore[attr-defined]  # after LightGBM's early stopping (30)
    return callback
