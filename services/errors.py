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
the same way, by attribute. A job's FailureReason stays the container's English line (SageMaker
shows it as it is); ``failure_text`` words the part of it that is one of our errors.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ERROR_KEY_PREFIX",
    "InfrastructureError",
    "TitanicError",
    "UserError",
    "code_of",
    "describe",
    "failure_text",
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
    if messages.language_of(lang) == "en":
        return one_line(exc)
    if entry is None:  # it may still quote one of ours (a trainer's failure file): that part is worded
        return failure_text(one_line(exc), lang)
    # A value that is a service's line (a Notice: the failing pre-flight checks) in ``lang`` too.
    values = {k: v.text(lang) if isinstance(v, messages.Notice) else v for k, v in values_of(exc).items()}
    for name in _REASON_VALUES:  # a job's failure reason inside the error: worded the same way
        if isinstance(values.get(name), str):
            values[name] = failure_text(values[name], lang)
    try:
        worded = entry[messages.language_of(lang)].format(**values)
    except (KeyError, IndexError, ValueError):  # a value the template needs is missing
        return one_line(exc)
    step = getattr(exc, "step", "")
    line = " ".join(worded.split())
    return f"{step}: {line}" if isinstance(step, str) and step else line


# The errors a job's FailureReason (or the failure the job store records) can say: the
# container's own checks of its data and hyperparameters, and the host stages a job record names.
FAILURE_CODE_PREFIXES = ("data.", "hyperparameter.", "stack.", "docker.", "image.", "storage.", "job.")
# Values that are themselves a failure reason (a job's, inside "job X failed: <reason>").
_REASON_VALUES = ("reason",)
# A template with fewer fixed words than this ("{what} failed: {cause}") would match any text.
_MIN_FIXED_CHARACTERS = 12


def failure_text(reason: str | None, lang: str = "en") -> str:
    """A job's failure reason for a reader in ``lang``.

    The reason stays what SageMaker reports (``AlgorithmError: <the failure file>, exit code: 1``):
    one English line, as the console shows it. In another language, the part of it that is one of
    our errors' English lines (the catalogue's ``en`` of a code in ``FAILURE_CODE_PREFIXES``) is
    replaced by the same entry in ``lang``, its values taken from the English words; the framing
    and anything unrecognised stay as they are."""
    from services import messages

    if not reason or messages.language_of(lang) == "en":
        return reason or ""
    for pattern, key in _failure_patterns():
        found = pattern.search(reason)
        if found is not None:
            words = {
                name: failure_text(value, lang) if name in _REASON_VALUES else value
                for name, value in found.groupdict().items()
            }
            worded = _filled(messages.catalogue()[key][messages.language_of(lang)], words)
            return reason[: found.start()] + worded + reason[found.end() :]
    return reason


@functools.cache
def _failure_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """A pattern per failure code's English line: a job's own frame first ("job X failed:
    <reason>", whose reason is then worded in turn), then the most specific (most fixed words)."""
    from services import messages

    found: list[tuple[bool, int, re.Pattern[str], str]] = []
    for key, entry in messages.catalogue().items():
        code = key.removeprefix(ERROR_KEY_PREFIX)
        if code == key or code.endswith(".hint") or not code.startswith(FAILURE_CODE_PREFIXES):
            continue
        body, fixed = [], 0
        seen: set[str] = set()
        for literal, name, _spec, _conversion in string.Formatter().parse(entry["en"]):
            body.append(re.escape(literal))
            fixed += len(literal)
            if name is None:
                continue
            if name in seen:
                body.append(f"(?P={name})")
            elif name == "s":  # English's plural "s" ({s:.0} in Korean prints nothing)
                body.append("(?P<s>s?)")
            else:
                body.append(f"(?P<{name}>.+?)")
            seen.add(name)
        if fixed >= _MIN_FIXED_CHARACTERS:
            # At the start or after a "stage: " prefix; up to the end or SageMaker's ", exit code".
            regex = "(?:^|(?<=: ))" + "".join(body) + r"(?=, exit code: |$| \(killed)"
            found.append((not code.startswith("job."), -fixed, re.compile(regex), key))
    found.sort(key=lambda item: item[:2])
    return tuple((pattern, key) for _, _, pattern, key in found)


def _filled(template: str, words: Mapping[str, str | None]) -> str:
    """``template`` with each field replaced by the words it stood for in the English line (a
    number keeps its English formatting; ``{s:.0}`` stays empty)."""
    parts = []
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None and spec != ".0":
            parts.append(words.get(name) or "")
    return "".join(parts)


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
