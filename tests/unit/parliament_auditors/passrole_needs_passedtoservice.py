"""parliament private auditor: an Allow that grants iam:PassRole must carry iam:PassedToService.

parliament's own and community auditors do not flag it (facts.md). Without the condition the
role can be passed to any service (EC2, Lambda, Glue ...) that then acts with its permissions.
Loaded by tests/unit/test_iam_render.py through ``private_auditors_custom_path``; the finding's
title and severity are registered there.
"""

from __future__ import annotations

import fnmatch
from typing import Any

ISSUE = "PASSROLE_WITHOUT_PASSEDTOSERVICE"


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _grants_passrole(statement: dict[str, Any]) -> bool:
    if "NotAction" in statement:  # everything but the listed actions
        return not any(
            fnmatch.fnmatchcase("iam:passrole", str(a).lower()) for a in _as_list(statement["NotAction"])
        )
    return any(
        fnmatch.fnmatchcase("iam:passrole", str(a).lower()) for a in _as_list(statement.get("Action", []))
    )


def _names_a_service(condition: dict[str, Any]) -> bool:
    for operator, tests in condition.items():
        if operator.startswith("ForAllValues") or "IfExists" in operator:
            continue  # both are true when the key is absent
        for key, value in tests.items():
            if key.lower() == "iam:passedtoservice":
                values = [str(v) for v in _as_list(value)]
                return bool(values) and not any("*" in v for v in values)
    return False


def audit(policy: Any) -> None:
    for statement in policy.statements:
        # parliament keeps each statement as a jsoncfg node; calling it gives plain Python values.
        document = statement.stmt()
        if document.get("Effect") != "Allow" or not _grants_passrole(document):
            continue
        if not _names_a_service(document.get("Condition", {})):
            policy.add_finding(ISSUE, location={"Sid": document.get("Sid", "")})
