"""The committed notebook carries no outputs, speaks Korean, and uses only the services API."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "titanic_sagemaker.ipynb"
# What a cell may import: our services layer, and the libraries that show its results.
ALLOWED_IMPORTS = {"os", "services", "pandas", "plotly"}


def cells(kind: str) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    return [cell for cell in notebook.cells if cell.cell_type == kind]


def test_the_committed_copy_has_no_outputs() -> None:
    for cell in cells("code"):
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]


def test_the_text_is_korean() -> None:
    for cell in cells("markdown"):
        assert re.search("[가-힣]", cell.source), cell.source[:60]


def test_cells_use_the_services_api_only() -> None:
    imported: set[str] = set()
    for cell in cells("code"):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    code = "\n".join(cell.source for cell in cells("code"))
    assert "boto3" not in code and "sagemaker" not in code.replace("SAGEMAKER_SUPPRESS_V2_WARNING", "")
