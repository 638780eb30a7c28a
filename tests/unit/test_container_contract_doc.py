"""docs/container-contract.md is what the container's modules say: regenerated here and compared."""

from __future__ import annotations

import re
from pathlib import Path

from container import contract, errors
from container.hyperparameters import SCHEMA
from container.metrics import METRIC_DEFINITIONS
from services.submission import contract_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "container-contract.md"


def test_the_doc_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == contract_doc.render_markdown(), (
        "docs/container-contract.md is stale: run "
        "`python -m services.submission.contract_doc > docs/container-contract.md`"
    )


def test_every_path_of_the_contract_is_documented() -> None:
    paths = contract.Paths(contract.DEFAULT_BASE_DIR)
    properties = [name for name, value in vars(contract.Paths).items() if isinstance(value, property)]
    assert properties, "Paths has no path properties"
    text = DOC.read_text(encoding="utf-8")
    for name in properties:
        assert f"`{getattr(paths, name)}`" in text, name
    assert f"`{paths.channel_dir('<channel>')}/`" in text


def test_every_hyperparameter_row_has_its_type_range_and_default() -> None:
    rows = {
        m.group(1): m.groups()[1:]
        for m in re.finditer(
            r"^\| `(\w+)` \| (\w+) \| ([^|]+) \| `([^`]+)` \|", DOC.read_text(), re.MULTILINE
        )
    }
    assert set(rows) == {spec.name for spec in SCHEMA}
    for spec in SCHEMA:
        kind, span, default = rows[spec.name]
        assert kind == spec.type.__name__
        assert default == (str(spec.default).lower() if spec.type is bool else str(spec.default))
        if spec.type in (int, float):
            low, high = (float(x) for x in span.split(" to "))
            assert (low, high) == (spec.min, spec.max), spec.name


def test_every_metric_regex_and_exit_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for definition in METRIC_DEFINITIONS:
        assert f"| `{definition['Name']}` | `{definition['Regex'].replace('|', chr(92) + '|')}` |" in text
    for code in (0, errors.USER_ERROR_EXIT, errors.FRAMEWORK_ERROR_EXIT, errors.STOPPED_EXIT):
        assert re.search(rf"^\| {code} \|", text, re.MULTILINE), code
