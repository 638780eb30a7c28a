"""infra/titanic-sm.yaml through the tools a security team runs: cfn-lint (zero errors, and the
informational DeletionPolicy check) and checkov (zero failed checks; each skip carries its reason).

The log group is conditional (created only where it is missing) and checkov leaves out resources
whose condition is false, so it also scans a copy with the group switched on.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cfnlint.api import ManualArgs, lint

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "titanic-sm.yaml"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
# JSON, without fetching guidelines from checkov's platform (offline, and not needed).
CHECKOV_ARGS = ("--framework", "cloudformation", "-o", "json", "--skip-download")
# Each skip the template declares, and where.
SKIPS = {
    ("CKV_AWS_18", "AWS::S3::Bucket.TrainingBucket"),
    ("CKV_AWS_136", "AWS::ECR::Repository.TrainingRepository"),
    ("CKV_AWS_158", "AWS::Logs::LogGroup.TrainingLogGroup"),
}


def test_cfn_lint_reports_no_errors_and_no_missing_deletion_policy() -> None:
    matches = lint(
        TEMPLATE.read_text(),
        config=ManualArgs(regions=["us-east-1", "eu-west-1", "ap-northeast-2"], include_checks=["I"]),
    )
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_checkov_fails_nothing_and_every_skip_says_why(tmp_path: Path) -> None:
    assert CHECKOV.is_file(), f"{CHECKOV} is missing: `make install` puts checkov in .venv-tools"
    with_group = tmp_path / "titanic-sm-with-log-group.yaml"
    text = TEMPLATE.read_text()
    default = '    Default: "false"\n    AllowedValues: ["true", "false"]'
    assert default in text
    with_group.write_text(text.replace(default, '    Default: "true"\n    AllowedValues: ["true", "false"]'))
    result = subprocess.run(
        [str(CHECKOV), "-f", str(TEMPLATE), "-f", str(with_group), *CHECKOV_ARGS],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        (c["check_id"], c["resource"], c["file_path"]) for r in reports for c in r["results"]["failed_checks"]
    ]
    assert failed == []
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    assert {(c["check_id"], c["resource"]) for c in skipped} == SKIPS
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason) > 40, f"{check['check_id']} is skipped without a reason"
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed >= 50  # both files, every resource scanned
