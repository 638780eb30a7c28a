"""User errors versus framework errors, and the one function that reports either.

Modelled on the SageMaker training toolkit: a *user* error (bad data, a bad hyperparameter, a
missing channel) is something the person launching the job can fix, and exits 1; anything else
is *ours* ("Framework error: ..."), and exits 2. Both write ``output/failure`` (SageMaker keeps
its first 1024 characters as the job's FailureReason) and print the reason to stderr as one line
starting ``Failure reason: ``, so the job's log says why too, next to the lines that led to it.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from container.contract import FAILURE_REASON_LIMIT

__all__ = [
    "FAILURE_PREFIX",
    "FRAMEWORK_ERROR_EXIT",
    "STOPPED_EXIT",
    "USER_ERROR_EXIT",
    "FrameworkError",
    "TrainingStopped",
    "UserError",
    "failure_reason",
    "report_failure",
    "write_failure",
]

USER_ERROR_EXIT = 1
FRAMEWORK_ERROR_EXIT = 2
# 128 + SIGTERM, what a shell reports for a process ended by that signal.
STOPPED_EXIT = 143
FAILURE_PREFIX = "Failure reason: "
FAILURE_LIMIT = FAILURE_REASON_LIMIT  # SageMaker keeps this much of output/failure


class UserError(Exception):
    """The job's input (data, hyperparameters, channels, invocation) is wrong; the message says how.

    ``code`` and ``values`` (optional) name the case and its facts, as the host's errors do: the
    failure file stays the English line, and the host words that line in its reader's language
    (``services.errors.failure_text``)."""

    def __init__(self, *args: object, code: str = "", values: Mapping[str, Any] | None = None) -> None:
        super().__init__(*args)
        self.code = code
        self.values: dict[str, Any] = dict(values or {})


class FrameworkError(Exception):
    """Our code failed in a way the user cannot fix by changing the input."""


class TrainingStopped(Exception):
    """SIGTERM arrived: training stopped early (after checkpointing, when that is on)."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def failure_reason(exc: BaseException) -> tuple[str, int]:
    """The failure text and exit code for an exception (DataError counts as a user error)."""
    if isinstance(exc, TrainingStopped):
        return _one_line(str(exc)) or "Training stopped by SIGTERM", STOPPED_EXIT
    if isinstance(exc, UserError) or _is_data_error(exc):
        return _one_line(str(exc)) or type(exc).__name__, USER_ERROR_EXIT
    detail = _one_line(str(exc))
    summary = f"Framework error: {type(exc).__name__}" + (f": {detail}" if detail else "")
    return summary, FRAMEWORK_ERROR_EXIT


def _is_data_error(exc: BaseException) -> bool:
    # Imported lazily: errors.py must stay importable even if data.py fails to import.
    try:
        from container.data import DataError
    except Exception:  # pragma: no cover - only when data.py itself is broken
        return False
    return isinstance(exc, DataError)


def write_failure(failure_file: Path, reason: str, details: str = "") -> None:
    """Write the failure file: the one-line reason first, then details, cut to 1024 characters."""
    text = reason if not details else f"{reason}\n{details}"
    failure_file.parent.mkdir(parents=True, exist_ok=True)
    failure_file.write_text(text[:FAILURE_LIMIT], encoding="utf-8")


def report_failure(exc: BaseException, failure_file: Path, stream: TextIO | None = None) -> int:
    """Record ``exc`` as the job's failure and return the exit code to use (never 0).

    Framework errors also get their traceback on stderr (for us) and a short tail of it in the
    failure file after the one-line reason.
    """
    out = stream if stream is not None else sys.stderr
    reason, code = failure_reason(exc)
    details = ""
    if code == FRAMEWORK_ERROR_EXIT:
        details = "".join(traceback.format_exception(exc)).strip()
        out.write(details + "\n")
        room = FAILURE_LIMIT - len(reason) - 1
        details = details[-room:] if room > 0 else ""
    try:
        write_failure(failure_file, reason, details)
    except OSError as write_error:
        out.write(f"could not write {failure_file}: {write_error}\n")
    out.write(FAILURE_PREFIX + reason + "\n")
    out.flush()
    return code
