"""pyproject.toml declares what the package needs; requirements.txt is the pinned lock of it: every
declared package is pinned there to a version its range allows, and nothing is pinned undeclared."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _locked() -> dict[str, Requirement]:
    locked: dict[str, Requirement] = {}
    for line in (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            locked[canonicalize_name(requirement.name)] = requirement
    return locked


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    declared, locked = _declared(), _locked()
    assert sorted(set(declared) - set(locked)) == []
    for name, requirement in declared.items():
        pins = [spec.version for spec in locked[name].specifier if spec.operator == "=="]
        if pins:
            assert requirement.specifier.contains(pins[0]), (name, str(requirement.specifier), pins[0])
        else:  # a bound kept as a bound in the lock too (setuptools<82)
            assert locked[name].specifier == requirement.specifier, name
        assert locked[name].extras == requirement.extras, name


def test_nothing_is_locked_that_is_not_declared() -> None:
    assert sorted(set(_locked()) - set(_declared())) == []
