"""The README is the newcomer's map: its commands and its layout must stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.MULTILINE))


def _readme_commands(prefix: str) -> list[str]:
    """Every `prefix ...` command line inside the README's fenced code blocks."""
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", README, flags=re.DOTALL)
    lines = [line.strip().removeprefix("$ ") for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix + " ")]


def test_the_two_set_up_commands_are_documented() -> None:
    assert "make run" in README
    assert "make test" in README


@pytest.mark.parametrize("command", _readme_commands("make"))
def test_every_make_command_in_the_readme_is_a_target(command: str) -> None:
    target = command.split()[1]
    assert target in _makefile_targets(), f"README shows `{command}` but the Makefile has no {target!r}"


@pytest.mark.parametrize("command", _readme_commands("titanic-sm"))
def test_every_cli_command_in_the_readme_exists(command: str) -> None:
    words = [w for w in command.split()[1:] if not w.startswith("-")]
    path: list[str] = []
    for word in words[:2]:
        result = CliRunner().invoke(app, [*path, word, "--help"])
        if result.exit_code != 0:
            break
        path.append(word)
    assert path, f"README shows `{command}` but `titanic-sm {words[0]} --help` fails"


def test_layout_in_the_readme_exists() -> None:
    layout = re.search(r"## Layout\n.*?```\n(.*?)```", README, flags=re.DOTALL)
    assert layout, "README needs a '## Layout' section with a fenced tree"
    names = re.findall(r"^([\w./-]+/?)\s", layout.group(1), flags=re.MULTILINE)
    assert names, "the layout block names no paths"
    missing = [name for name in names if not (REPO / name.rstrip("/")).exists()]
    assert not missing, f"README layout names paths that do not exist: {missing}"
