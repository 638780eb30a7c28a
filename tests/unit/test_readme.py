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


def _layout_rows(text: str) -> dict[str, str]:
    layout = re.search(r"\n## [^\n]+\n+```\n(app/.*?)```", text, flags=re.DOTALL)
    assert layout, "no layout tree (a fenced block starting at app/)"
    rows = (line.split(None, 1) for line in layout.group(1).splitlines() if line.strip())
    return {row[0]: row[1] if len(row) > 1 else "" for row in rows}


def _packages() -> list[Path]:
    """services/, container/, benchmarks/ and every Python package under services/."""
    found = [REPO / "services", REPO / "container", REPO / "benchmarks"]
    found += sorted(
        p.parent for p in (REPO / "services").rglob("__init__.py") if "__pycache__" not in p.parts
    )
    return sorted(set(found))


@pytest.mark.parametrize("readme", ["README.md", "README.ko.md"])
@pytest.mark.parametrize("package", _packages(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_layout_names_every_package_and_its_modules(readme: str, package: Path) -> None:
    """Down to the module list: a module added, moved or removed must be written down where it is."""
    rows = _layout_rows((REPO / readme).read_text(encoding="utf-8"))
    folder = f"{package.relative_to(REPO)}/"
    assert folder in rows, f"{readme}'s layout has no row for {folder}"
    named = set(re.findall(r"\b(\w+\.py)\b", rows[folder]))
    present = {p.name for p in package.glob("*.py")} - {"__init__.py"}
    assert named == present, f"{readme}, {folder}: names {sorted(named - present)} that are not there, " + (
        f"misses {sorted(present - named)}"
    )
