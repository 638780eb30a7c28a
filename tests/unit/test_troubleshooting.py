"""The troubleshooting log is true: each commit exists and changed the file it names, the doc is
the generated one, and every problem is written in both languages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.messages import LANGUAGES, text
from services.submission import troubleshooting

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "troubleshooting.md"


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30)


def test_at_least_six_real_problems() -> None:
    assert len(troubleshooting.PROBLEMS) >= 6
    assert len({p.key for p in troubleshooting.PROBLEMS}) == len(troubleshooting.PROBLEMS)


@pytest.mark.parametrize("problem", troubleshooting.PROBLEMS, ids=lambda p: p.key)
def test_the_commit_exists_and_changed_the_file(problem: troubleshooting.Problem) -> None:
    assert git("cat-file", "-e", f"{problem.commit}^{{commit}}").returncode == 0, (
        f"commit {problem.commit} ({problem.key}) is not in this repository's history"
    )
    changed = git("show", "--name-only", "--format=", problem.commit).stdout.split()
    assert problem.path in changed, f"{problem.commit} did not change {problem.path}: {changed}"


@pytest.mark.parametrize("problem", troubleshooting.PROBLEMS, ids=lambda p: p.key)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_problem_has_symptom_cause_and_fix(problem: troubleshooting.Problem, lang: str) -> None:
    for part in ("title", "symptom", "cause", "fix"):
        assert text(f"trouble.{problem.key}.{part}", lang).strip()


def test_the_doc_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == troubleshooting.render_markdown(), (
        "docs/troubleshooting.md is stale: run "
        "`python -m services.submission.troubleshooting > docs/troubleshooting.md`"
    )
