"""Key code for the submission (section 5), read from git at the revision the image was built
from (its ``org.opencontainers.image.revision`` label), never from the working tree.

A revision that is unknown, not in this repository, or built from uncommitted changes
(``-dirty``) is said so in the document; the working tree is never pasted in its place.
"""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXCERPTS", "Excerpt", "KeyCode", "key_code"]


@dataclass(frozen=True)
class ExcerptSpec:
    """One excerpt: a file (or, when it lacks the code, the first file under ``search`` that has
    it), and which part: the whole file, or every top-level function whose source holds one of
    ``holding``, cut to start at the first line holding ``start`` when given. Found by content,
    not by name, so a renamed function is still found at a later revision."""

    key: str  # catalogue key of the caption
    path: str
    language: str
    holding: tuple[str, ...] = ()
    start: str | None = None
    search: str | None = None


EXCERPTS: tuple[ExcerptSpec, ...] = (
    ExcerptSpec("submission.code.dockerfile", "Dockerfile.training", "dockerfile"),
    ExcerptSpec(
        "submission.code.estimator",
        "services/training/estimator.py",
        "python",
        holding=("Estimator(", ".fit("),
        search="services",
    ),
    ExcerptSpec(
        "submission.code.model_save",
        "container/train.py",
        "python",
        holding=("joblib.dump",),
        start="model_dir.mkdir",
        search="container",
    ),
)


@dataclass(frozen=True)
class Excerpt:
    key: str
    path: str
    language: str
    code: str | None  # None: not found at that revision
    lines: str = ""  # "L10-L42"


@dataclass(frozen=True)
class KeyCode:
    revision: str | None  # the image label as recorded ("<sha>", "<sha>-dirty", "unknown", None)
    commit: str | None  # the commit the excerpts come from, when it is in this repository
    dirty: bool
    excerpts: tuple[Excerpt, ...]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)


def commit_exists(root: Path, revision: str) -> bool:
    try:
        found = _git(root, "cat-file", "-e", f"{revision}^{{commit}}")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0


def _file_at(root: Path, commit: str, path: str) -> str | None:
    shown = _git(root, "show", f"{commit}:{path}")
    return shown.stdout if shown.returncode == 0 else None


def _cut(source: str, spec: ExcerptSpec) -> tuple[str, str] | None:
    if not spec.holding:
        return source.rstrip("\n"), f"L1-L{len(source.splitlines())}"
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    lines = source.splitlines()
    parts: list[str] = []
    spans: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        first, last = node.lineno, node.end_lineno or node.lineno
        body = "\n".join(lines[first - 1 : last])
        if not any(marker in body for marker in spec.holding):
            continue
        if node.decorator_list:
            first = min(d.lineno for d in node.decorator_list)
        if spec.start is not None:
            hit = next((n for n in range(first, last + 1) if spec.start in lines[n - 1]), None)
            first = hit if hit is not None else first
        chunk = lines[first - 1 : last]
        indent = min((len(x) - len(x.lstrip()) for x in chunk if x.strip()), default=0)
        parts.append("\n".join(x[indent:] for x in chunk))
        spans.append(f"L{first}-L{last}")
    if not parts:
        return None
    return "\n\n\n".join(parts), ", ".join(spans)


def _candidates(root: Path, commit: str, spec: ExcerptSpec) -> list[str]:
    """The spec's own file first, then (for code found by content) every file under its search
    folder at ``commit`` that holds the first marker."""
    found = [spec.path]
    if spec.search and spec.holding:
        listed = _git(root, "grep", "-l", "-F", spec.holding[0], commit, "--", f"{spec.search}/*.py")
        for line in listed.stdout.splitlines():
            name = line.split(":", 1)[1] if ":" in line else line
            if name not in found:
                found.append(name)
    return found


def key_code(root: Path, revision: str | None) -> KeyCode:
    """The excerpts at ``revision`` (the image's label), or none with the reason in the fields."""
    if not revision or revision == "unknown":
        return KeyCode(revision, None, False, ())
    dirty = revision.endswith("-dirty")
    commit = revision.removesuffix("-dirty")
    if not commit_exists(root, commit):
        return KeyCode(revision, None, dirty, ())
    excerpts = []
    for spec in EXCERPTS:
        path, cut = spec.path, None
        for candidate in _candidates(root, commit, spec):
            source = _file_at(root, commit, candidate)
            cut = _cut(source, spec) if source is not None else None
            if cut is not None:
                path = candidate
                break
        excerpts.append(
            Excerpt(spec.key, path, spec.language, cut[0] if cut else None, cut[1] if cut else "")
        )
    return KeyCode(revision, commit, dirty, tuple(excerpts))
