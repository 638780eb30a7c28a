"""The CLI's usage errors (an unknown flag, a missing option, a value of the wrong type) in the
CLI's language.

Typer shows these itself, in English, before any command runs. With TITANIC_SM_LANG=ko the
CLI's edge (``services.cli.ErrorEdge``) hands them here instead: each kind Click raises is worded
by the catalogue (``cli.usage.*``) from the exception's own fields (the option, the parameter,
the value given), as three lines: the usage, the error and where the help is. A kind this module
does not know keeps Click's English message under the Korean frame.
"""

from __future__ import annotations

import re

from typer._click.exceptions import BadParameter, MissingParameter, NoSuchOption, UsageError

from services.messages import text

__all__ = ["usage_lines"]

_NO_SUCH_COMMAND = re.compile(r"^No such command '(?P<name>.*)'\.(?: Did you mean (?P<suggested>.+)\?)?$")
_EXTRA_ARGUMENTS = re.compile(r"^Got unexpected extra argument\(s\) \((?P<arguments>.*)\)$")
_REQUIRES_VALUE = re.compile(r"^Option '(?P<option>.+)' requires (?:an argument|\d+ arguments)\.$")
_TAKES_NO_VALUE = re.compile(r"^Option '(?P<option>.+)' does not take a value\.$")
# pydantic's error types for a value Typer could not convert (BadParameter's cause).
_VALUE_ERRORS = {
    "int_parsing": "cli.usage.not_integer",
    "int_from_float": "cli.usage.not_integer",
    "float_parsing": "cli.usage.not_number",
    "bool_parsing": "cli.usage.not_boolean",
}


def _hint(exc: BadParameter) -> str:
    """The parameter as Click names it (``'--limit'``, ``'job'``)."""
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if isinstance(hint, list | tuple):
        return " / ".join(str(h) for h in hint)
    return str(hint) if hint else "?"


def _message(exc: UsageError, lang: str) -> str:
    """The error itself in ``lang``, from the exception's kind and fields."""
    message = str(exc.message or "")
    if isinstance(exc, NoSuchOption):
        line = text("cli.usage.no_such_option", lang, option=exc.option_name)
        if exc.possibilities:
            line += " " + text("cli.usage.did_you_mean", lang, suggested=", ".join(sorted(exc.possibilities)))
        return line
    if isinstance(exc, MissingParameter):
        param_type = exc.param_type or (exc.param.param_type_name if exc.param is not None else "parameter")
        key = "cli.usage.missing_argument" if param_type == "argument" else "cli.usage.missing_option"
        return text(key, lang, param=_hint(exc))
    if isinstance(exc, BadParameter):
        # Typer converts values with pydantic: the cause's first error names the kind and the input.
        errors: list[dict[str, object]] = getattr(exc.__cause__, "errors", list)()
        first = errors[0] if errors else {}
        wording = _VALUE_ERRORS.get(str(first.get("type", "")))
        if wording:
            return text(wording, lang, param=_hint(exc), value=repr(first.get("input")))
        return text("cli.usage.invalid_value", lang, param=_hint(exc), detail=message)
    for pattern, key in (
        (_NO_SUCH_COMMAND, "cli.usage.no_such_command"),
        (_EXTRA_ARGUMENTS, "cli.usage.extra_arguments"),
        (_REQUIRES_VALUE, "cli.usage.requires_value"),
        (_TAKES_NO_VALUE, "cli.usage.takes_no_value"),
    ):
        found = pattern.match(message)
        if found:
            values = {k: v for k, v in found.groupdict().items() if k != "suggested"}
            line = text(key, lang, **values)
            if found.groupdict().get("suggested"):
                line += " " + text("cli.usage.did_you_mean", lang, suggested=found["suggested"])
            return line
    if message == "Missing command.":
        return text("cli.usage.missing_command", lang)
    return str(exc.format_message())  # a kind the catalogue does not word: Click's English


def usage_lines(exc: UsageError, lang: str) -> list[str]:
    """A usage error (Click's ``UsageError`` or a subclass) as the lines to print: the command's
    usage, the error and the help command, worded in ``lang``."""
    lines = []
    ctx = exc.ctx
    if ctx is not None:
        usage = ctx.get_usage().removeprefix("Usage:").strip()
        lines.append(text("cli.usage.usage", lang, usage=usage))
    lines.append(f"{text('cli.error_prefix', lang)}: {_message(exc, lang)}")
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        lines.append(text("cli.usage.help", lang, command=f"{ctx.command_path} {ctx.help_option_names[0]}"))
    return lines
