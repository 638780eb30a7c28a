"""docs/aws.md against the code it describes: every `titanic-sm` command parses with the real CLI,
every stack parameter and output it names exists in the template, every variable is a setting,
every make target exists, and its cost figures come from the shipped price snapshot.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
from cfnlint.decode import decode_str

from container.hyperparameters import SCHEMA
from services.cli import app
from services.instance import cost, pricing, quotas
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "aws.md"
# Values for the shell variables the walkthrough exports, so its lines can be parsed.
SHELL_VALUES = {"$AWS_REGION": "us-east-1", "$BUCKET": "titanic-sm-111122223333-us-east-1"}


def _doc() -> str:
    return DOC.read_text()


def _template() -> dict[str, Any]:
    parsed, errors = decode_str((ROOT / "infra" / "titanic-sm.yaml").read_text())
    assert not errors, errors
    return dict(parsed)


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)


def _shell_commands(text: str) -> list[str]:
    """The commands of the bash blocks, with backslash continuations joined and comments dropped."""
    commands: list[str] = []
    for block in _code_blocks(text):
        joined = block.replace("\\\n", " ")
        commands += [
            line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")
        ]
    return commands


def _cli_lines(text: str) -> list[str]:
    in_blocks = [c for c in _shell_commands(text) if c.startswith("titanic-sm ")]
    inline = re.findall(r"`(titanic-sm [^`]*)`", text)
    # "titanic-sm --target aws" in prose names the target, not a whole command.
    return in_blocks + [line for line in inline if line != "titanic-sm --target aws"]


def _tokens(line: str) -> list[str]:
    return [SHELL_VALUES.get(token, token) for token in shlex.split(line.replace('"$', "$").replace('"', ""))]


def _parse(tokens: list[str]) -> list[Any]:
    """Parse like `titanic-sm` would, without running anything: unknown options, missing values
    and wrong types raise click's usage errors. (typer ships its own copy of click, so groups are
    recognised by what they can do, not by click's classes.)"""
    command: Any = typer.main.get_command(app)
    contexts = [command.make_context("titanic-sm", tokens)]
    while hasattr(command, "resolve_command"):
        ctx = contexts[-1]
        rest = [*ctx._protected_args, *ctx.args]
        name, found, rest = command.resolve_command(ctx, rest)
        assert found is not None and name is not None, f"no command {rest[:1]}"
        command = found
        contexts.append(command.make_context(name, rest, parent=ctx))
    return contexts


def test_the_doc_has_the_commands_the_brief_promises() -> None:
    lines = _cli_lines(_doc())
    commands = {" ".join(_tokens(line)[1:3]) if " jobs " in line else _tokens(line)[1] for line in lines}
    assert {"instances", "run", "image", "jobs list", "jobs show", "jobs logs", "jobs stop"} <= commands
    assert any("--spot" in line and "--max-wait" in line for line in lines)


@pytest.mark.parametrize("line", _cli_lines(DOC.read_text()))
def test_every_titanic_sm_command_parses_with_the_cli(line: str) -> None:
    contexts = _parse(_tokens(line)[1:])
    params = contexts[-1].params
    if params.get("hp"):
        known = {hp.name for hp in SCHEMA}
        assert {pair.split("=", 1)[0] for pair in params["hp"]} <= known
    if params.get("instance_type"):
        assert re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", params["instance_type"])
    if params.get("max_wait") is not None:
        assert params["spot"] is True and params["max_wait"] >= params["max_run"]


def test_the_parser_check_can_fail() -> None:
    with pytest.raises(Exception, match="No such option: --instance"):
        _parse(["run", "--instance", "ml.m5.large"])
    with pytest.raises(Exception, match="valid integer"):
        _parse(["run", "--max-run", "ten"])
    with pytest.raises(Exception, match="No such command"):
        _parse(["jobs", "delete", "x"])
    assert _parse(["jobs", "list", "--target", "aws"])[-1].params["target"] == ["aws"]


def test_deploy_command_uses_the_template_and_its_parameters() -> None:
    template = _template()
    deploys = [c for c in _shell_commands(_doc()) if c.startswith("aws cloudformation deploy")]
    assert len(deploys) == 1
    tokens = _tokens(deploys[0])
    assert tokens[tokens.index("--template-file") + 1] == "infra/titanic-sm.yaml"
    assert tokens[tokens.index("--capabilities") + 1] == "CAPABILITY_NAMED_IAM"
    overrides = tokens[tokens.index("--parameter-overrides") + 1 :]
    assert [pair.split("=", 1)[0] for pair in overrides] == ["BucketName"]
    # Every parameter is in the template, and every template parameter without a default is set.
    required = {name for name, spec in template["Parameters"].items() if "Default" not in spec}
    assert required == {"BucketName"}


def test_parameter_table_matches_the_template_defaults() -> None:
    parameters = _template()["Parameters"]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", _doc(), flags=re.MULTILINE)
    documented = {name: default for name, default in rows if name in parameters}
    assert set(documented) == {n for n, spec in parameters.items() if "Default" in spec}
    assert documented == {n: str(parameters[n]["Default"]) for n in documented}
    for text in ("CreateLogGroup=false",):
        assert text in _doc()


def test_outputs_and_variables_the_doc_names_exist() -> None:
    outputs = set(_template()["Outputs"])
    named = set(re.findall(r"OutputKey=='(\w+)'", _doc())) | set(re.findall(r"output `(\w+)`", _doc()))
    assert named and named <= outputs
    fields = {f"TITANIC_SM_{name.upper()}" for name in Settings.__dataclass_fields__}
    # The test suite's real-account switch (and its old name), and the config file's variable.
    fields |= {"TITANIC_SM_AWS_VERIFIED", "TITANIC_SM_REAL_AWS", "TITANIC_SM_CONFIG"}
    variables = set(re.findall(r"TITANIC_SM_[A-Z_]+[A-Z]", _doc()))
    assert variables - fields == set()


def test_make_targets_named_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-zA-Z_-]+):", makefile, flags=re.MULTILINE))
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", _doc()))
    assert named and named <= targets


def test_quota_names_are_the_ones_the_code_resolves() -> None:
    doc = _doc()
    assert quotas.parse_quota_name("ml.m5.large for training job usage") == ("ml.m5.large", False)
    assert quotas.parse_quota_name("ml.m5.large for spot training job usage") == ("ml.m5.large", True)
    assert "QuotaName=='ml.m5.large for training job usage'" in doc
    assert "`ml.m5.large for spot training job usage`" in doc


def test_cost_figures_come_from_the_snapshot_and_the_cost_code() -> None:
    doc = _doc()
    price = pricing.load_snapshot("us-east-1").quote("ml.m5.large", False)
    assert price is not None
    assert f"**${price.usd_per_hour:g}/h**" in doc
    for seconds in (60, 180):
        usd = cost.actual(seconds, price.usd_per_hour).usd
        assert f"| {seconds} s | ${usd:.5f} |" in doc
