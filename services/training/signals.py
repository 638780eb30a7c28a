"""SIGTERM and Ctrl-C while a job runs in this process (a worker, a foreground `titanic-sm run`).

SIGTERM (a closed terminal, a plain `kill`, `jobs stop`) stops the job instead of leaving it to run
on unfollowed; Ctrl-C stops it too. ``worker.run_job`` catches either and stops the training job."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from services.training.errors import StopRequested

__all__ = [
    "handled",
    "raise_if_signalled",
    "sigterm_stops_job",
    "stop_on_sigterm",
]

# Python drops an exception raised while a finalizer (`__del__`) runs ("Exception ignored in"),
# so a Ctrl-C or SIGTERM delivered there would be lost and the job run on. The handlers note
# each signal; the follow loop raises it again until run_job has handled it.
_signalled: list[int] = []


def _on_sigterm(signum: int, frame: object) -> None:
    _signalled.append(signum)
    raise StopRequested(by_signal=True)


def _on_sigint(signum: int, frame: object) -> None:
    _signalled.append(signum)
    raise KeyboardInterrupt


def raise_if_signalled() -> None:
    """Raise again a signal whose exception was swallowed before run_job saw it."""
    if not _signalled:
        return
    if _signalled[-1] == signal.SIGINT:
        raise KeyboardInterrupt
    raise StopRequested(by_signal=True)


def stop_on_sigterm() -> None:
    """From now on SIGTERM to this process stops its job (``run_job`` stops the training job, records
    Stopped and raises JobStoppedError with ``by_signal``), as the dashboard's Stop does."""
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def sigterm_stops_job() -> Iterator[None]:
    """While a job runs in this process's main thread (the worker, a foreground `titanic-sm run`),
    SIGTERM (a closed terminal, a plain `kill`, `jobs stop`) stops the job instead of leaving it
    to run on unfollowed, and Ctrl-C is noted so it is never lost. Off the main thread signals
    cannot be handled, so nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        _signalled.clear()


def handled() -> None:
    """The run has handled the signal it was stopped by: the follow loop must not raise it again."""
    _signalled.clear()
