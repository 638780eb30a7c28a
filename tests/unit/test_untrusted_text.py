"""The one way foreign text reaches a Markdown context (app/ui.py): escaped, autolinks broken,
one line; code spans that nothing can end."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

# app/ui.py by its path: app/ is a folder of scripts, not a package on sys.path.
_SPEC = importlib.util.spec_from_file_location(
    "dashboard_ui", Path(__file__).resolve().parents[2] / "app" / "ui.py"
)
assert _SPEC is not None and _SPEC.loader is not None
ui = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ui)
Markdown, code, escape_markdown = ui.Markdown, ui.code, ui.escape_markdown

UNESCAPED = re.compile(r"(?<!\\)[\[\]()<>!*_`#|~$]")


@pytest.mark.parametrize(
    "hostile",
    [
        "![x](http://127.0.0.1:9/i.png)",
        "[click here to fix](https://evil.example/)",
        "<img src=x onerror=alert(1)>",
        "<a href='http://x'>fix</a>",
        "**bold** _it_ `code` # heading | table | ~~gone~~ $x^2$",
        ":red[coloured] :material/home:",
    ],
)
def test_markdown_syntax_is_escaped(hostile: str) -> None:
    assert not UNESCAPED.search(escape_markdown(hostile)), escape_markdown(hostile)


@pytest.mark.parametrize(
    ("bare", "pattern"),
    [
        ("see http://127.0.0.1:9/x", "http:"),
        ("see HTTPS://example.com", "HTTPS:"),
        ("www.example.com/x", "www."),
        ("me@example.com", "@example"),
    ],
)
def test_bare_autolinks_are_broken_by_an_invisible_joiner(bare: str, pattern: str) -> None:
    escaped = escape_markdown(bare)
    assert pattern not in escaped
    assert escaped.replace("\u2060", "") == bare  # the reader still reads the same text


def test_ordinary_messages_read_the_same() -> None:
    message = "train.csv: column 'Age' has 'abc' on line 4; home.dest dropped"
    assert escape_markdown(message) == message


def test_one_message_stays_one_line() -> None:
    assert escape_markdown("first\nsecond\r\n\tthird") == "first second third"


def test_trusted_markdown_passes_as_it_is() -> None:
    assert escape_markdown(Markdown("**set by the catalogue**")) == "**set by the catalogue**"


@pytest.mark.parametrize("value", ["plain", "a `tick`", "``double``", "`", "ends with `"])
def test_a_code_span_cannot_be_ended_by_its_content(value: str) -> None:
    span = code(value)
    fence = re.match(r"`+", span)
    assert fence is not None
    inner = span[len(fence.group(0)) : -len(fence.group(0))]
    assert inner.strip() == value
    assert fence.group(0) not in inner  # no run of backticks inside is as long as the fence
