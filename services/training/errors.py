"""How a job's stages end other than Completed: one exception each, ``str()`` one line naming the
stage and the cause (the catalogue words them by code)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.errors import TitanicError

__all__ = [
    "JobAlreadyFollowedError",
    "JobFailedError",
    "JobStoppedError",
    "MaxRuntimeExceededError",
    "StageError",
    "StopRequested",
    "TrainingApiUnreachableError",
]


class StageError(TitanicError, RuntimeError):
    """A stage failed; ``str()`` is one line naming the stage and the cause."""

    def __init__(
        self,
        stage: str,
        cause: str,
        *,
        code: str | None = None,
        values: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{stage}: {cause}", code=code, values=values, hint=hint)
        self.stage = stage
        self.step = stage
        self.cause = cause

    @classmethod
    def wrapping(cls, stage: str, exc: BaseException, cause: str | None = None) -> StageError:
        """``exc`` as the failure of ``stage``, keeping its code, values and hint (so the
        catalogue can still word it) and, for a user error, its exit code."""
        from services.errors import code_of, hint_of, values_of

        text = cause if cause is not None else (" ".join(str(exc).split()) or type(exc).__name__)
        error = cls(stage, text, code=code_of(exc), values=values_of(exc), hint=hint_of(exc) or None)
        error.exit_code = getattr(exc, "exit_code", 1) if isinstance(exc, TitanicError) else 1
        return error


class JobFailedError(StageError):
    """The training job itself failed; ``cause`` is the container's failure reason."""


class JobStoppedError(StageError):
    """The job was stopped by the user (the dashboard's Stop, `jobs stop`, SIGTERM or Ctrl-C);
    ``by_signal`` when SIGTERM reached this very run."""

    def __init__(self, stage: str, cause: str, by_signal: bool = False) -> None:
        super().__init__(stage, cause)
        self.by_signal = by_signal


class MaxRuntimeExceededError(StageError):
    """The job ran past max_run (or, on spot, max_wait); like SageMaker, it ends Stopped with
    ``secondary_status`` MaxRuntimeExceeded (or MaxWaitTimeExceeded)."""

    def __init__(
        self,
        stage: str,
        cause: str,
        secondary_status: str = "MaxRuntimeExceeded",
        *,
        code: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(stage, cause, code=code, values=values)
        self.secondary_status = secondary_status


class JobAlreadyFollowedError(StageError):
    """Another live process runs this job's stages; nothing was recorded."""


class TrainingApiUnreachableError(StageError):
    """The training API did not answer for ``API_UNREACHABLE_SECONDS``: the job's outcome is not
    known, so nothing terminal is recorded (``jobs.sync`` adopts the job once the API is back)."""


class StopRequested(BaseException):
    """The job was stopped: SIGTERM reached the run (``by_signal``), or the training API reports it
    Stopped (the dashboard's Stop, `jobs stop` from another terminal)."""

    def __init__(self, by_signal: bool = True) -> None:
        super().__init__()
        self.by_signal = by_signal
