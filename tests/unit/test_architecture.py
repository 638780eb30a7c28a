"""docs/architecture.md stays true: its boxes are the packages on disk, each plain arrow is a real
import, and every function the walk of one job names exists where it says."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
CHARTS = re.findall(r"```mermaid\n(.*?)```", DOC, flags=re.DOTALL)
PARTS = CHARTS[0]
NODES = dict(re.findall(r'^\s+(\w+)\["([\w/]+/)', PARTS, flags=re.MULTILINE))  # id -> folder


def _packages() -> set[str]:
    found = {p.parent for p in (REPO / "services").rglob("__init__.py") if "__pycache__" not in p.parts}
    return {f"{p.relative_to(REPO)}/" for p in found} | {"app/", "container/"}


def _imports(folder: str) -> set[str]:
    """Every module a folder's own files import (a subpackage's files are its own)."""
    base = REPO / folder
    files = [
        p for p in base.rglob("*.py") if not any((q / "__init__.py").exists() for q in _subdirs(base, p))
    ]
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
    return names


def _subdirs(base: Path, path: Path) -> list[Path]:
    """The folders between ``base`` and ``path`` (exclusive of base): a package there owns the file."""
    return [
        base / Path(*path.relative_to(base).parts[:i]) for i in range(1, len(path.relative_to(base).parts))
    ]


def test_the_boxes_are_the_packages_on_disk() -> None:
    assert len(CHARTS) == 2, "the parts, then the walk of one job"
    assert set(NODES.values()) == _packages()


def test_each_plain_arrow_is_an_import() -> None:
    arrows = re.findall(r"^\s+(\w+) --> ([\w &]+)$", PARTS, flags=re.MULTILINE)
    assert arrows
    for source, targets in arrows:
        imported = _imports(NODES[source])
        for target in (t.strip() for t in targets.split("&")):
            module = NODES[target].rstrip("/").replace("/", ".")
            assert any(name == module or name.startswith(module + ".") for name in imported), (
                f"docs/architecture.md: {source} --> {target}, but {NODES[source]} never imports {module}"
            )


def test_every_function_the_walk_names_exists() -> None:
    named = re.findall(r"(\w+/\w+\.py) (\w+(?:, (?!\w+/)\w+)*)", CHARTS[1])
    assert len(named) >= 8
    for module, functions in named:
        path = REPO / "services" / module
        if not path.exists():
            path = REPO / module
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        for function in functions.split(", "):
            assert function in defined, f"docs/architecture.md names {module} {function}, not defined there"


def _module_imports() -> dict[str, set[str]]:
    """Each services/container module -> the modules of ours it imports at its top level."""
    files = {}
    for folder in ("services", "container"):
        for path in (REPO / folder).rglob("*.py"):
            files[".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def test_no_import_cycles_at_import_time() -> None:
    graph = _module_imports()
    assert len(graph) > 50 and graph["services.cli"], "the scan found the package"
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_pages_only_present() -> None:
    """app/ calls services; it never talks to AWS, the job store's database or Docker itself."""
    forbidden = {"boto3", "botocore", "sqlite3", "docker", "subprocess", "sagemaker"}
    pages = sorted((REPO / "app").rglob("*.py"))
    assert len(pages) >= 5
    for path in pages:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            bad = {n.split(".")[0] for n in names} & forbidden
            assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}: call a service function instead"
