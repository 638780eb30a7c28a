"""The one error root of the host side: a user error versus an infrastructure error.

Every exception the host raises on purpose is a :class:`TitanicError`:

- :class:`UserError`: the input, a choice or a setting is wrong (a bad CSV cell, a refused
  instance, a budget, a missing setting). The user fixes it; the CLI exits 1 (or the code the
  error names), never with a traceback.
- :class:`InfrastructureError`: AWS, Docker or the local stack is unreachable or failing. The
  user's input may be fine; the hint says what to start, check or retry.

Each error carries what a reader needs to act, as data as well as words:

- ``str(exc)``: one English line naming the cause (the CLI's and the log's wording);
- ``code``: a stable name, the catalogue key ``error.<code>`` words it in Korean and English;
- ``values``: the facts the message is made of (file, column, line, value, limit, instance type);
- ``hint``: what to do about it, in English.

``describe(exc, lang)`` is the one place that turns an error into the reader's language: the
catalogue's wording of ``code`` filled from ``values``, or the English line when the catalogue has
no entry for the code (or the error is not ours). The container's errors (``container/errors.py``,
``container.data.DataError``) stay container-only; ``describe`` reads their ``code``/``values``
the same way, by attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ERROR_KEY_PREFIX",
    "InfrastructureError",
    "TitanicError",
    "UserError",
    "code_of",
    "describe",
    "hint_of",
    "hint_text",
    "one_line",
    "values_of",
]

# The catalogue key of an error code: ``error.<code>`` (a ``{placeholder}`` per value).
ERROR_KEY_PREFIX = "error."


class TitanicError(Exception):
    """The root of every error the host side raises on purpose.

    ``TitanicError(message, code=..., values={...}, hint=...)``; positional arguments beyond the
    message stay as they are, so a subclass that is also a ``KeyError`` keeps its ``args``.
    """

    # The code when a raise site names none: the catalogue has no entry for "", so the English
    # message is shown as it is.
    default_code: ClassVar[str] = ""
    default_hint: ClassVar[str] = ""
    # The catalogue key that words ``default_hint`` ("" for none).
    default_hint_key: ClassVar[str] = ""
    # What the CLI exits with.
    exit_code: int = 1
    # The step of the flow that failed ("data", "request", "instance"...), when one wraps the error.
    step: str = ""

    def __init__(
        self,
        *args: object,
        code: str | None = None,
        values: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(*args)
        self.code: str = code if code is not None else self.default_code
        self.values: dict[str, Any] = dict(values or {})
        self.hint: str = hint if hint is not None else self.default_hint


class UserError(TitanicError):
    """Bad input, a refused choice or a missing setting: the user can fix it."""

    default_hint = "fix the input named in the message and try again"
    default_hint_key = "error.hint.user"


class InfrastructureError(TitanicError):
    """AWS, Docker or the local stack is unreachable or failing."""

    default_hint = (
        "check that the service named in the message is running and reachable "
        "(`titanic-sm local status`, `docker info`, `titanic-sm config check`), then retry"
    )
    default_hint_key = "error.hint.infrastructure"


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, with its type when the message is empty."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def code_of(exc: BaseException) -> str:
    """The error's stable code ('' when it has none): ours, or the container's by attribute."""
    code = getattr(exc, "code", "")
    return code if isinstance(code, str) else ""


def values_of(exc: BaseException) -> dict[str, Any]:
    values = getattr(exc, "values", None)
    return dict(values) if isinstance(values, Mapping) else {}


def hint_of(exc: BaseException) -> str:
    hint = getattr(exc, "hint", "")
    return hint if isinstance(hint, str) else ""


def describe(exc: BaseException, lang: str = "en") -> str:
    """One line for a reader in ``lang``: the catalogue's ``error.<code>`` filled from the
    error's values, or the English message when the catalogue lacks the code or a value.

    In English it is the error's own line: the catalogue's English entry says the same (a test
    keeps them equal), and a step may have added words to it ("(--override-reason)")."""
    from services import messages

    code = code_of(exc)
    entry = messages.catalogue().get(ERROR_KEY_PREFIX + code) if code else None
    if entry is None or messages.language_of(lang) == "en":
        return one_line(exc)
    try:
        worded = entry[messages.language_of(lang)].format(**values_of(exc))
    except (KeyError, IndexError, ValueError):  # a value the template needs is missing
        return one_line(exc)
    step = getattr(exc, "step", "")
    line = " ".join(worded.split())
    return f"{step}: {line}" if isinstance(step, str) and step else line


def hint_text(exc: BaseException, lang: str = "en") -> str:
    """What to do about ``exc`` in ``lang``: the catalogue's ``error.<code>.hint``, or its class's
    worded default hint, or the hint's English words ('' when the error has none)."""
    from services import messages

    hint = hint_of(exc)
    if not hint:
        return ""
    entries = messages.catalogue()
    code = code_of(exc)
    key = f"{ERROR_KEY_PREFIX}{code}.hint" if code else ""
    if key not in entries and hint == getattr(type(exc), "default_hint", None):
        key = getattr(type(exc), "default_hint_key", "")
    if key in entries:
        return entries[key][messages.language_of(lang)]
    return hint
