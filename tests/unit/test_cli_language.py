"""The CLI speaks English; TITANIC_SM_LANG=ko switches the messages the catalogue has."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli import app


@pytest.mark.parametrize(
    ("lang", "prefix"), [(None, "error"), ("en", "error"), ("ko", "오류"), ("ko_KR.UTF-8", "오류")]
)
def test_the_error_line_follows_titanic_sm_lang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, lang: str | None, prefix: str
) -> None:
    if lang is None:
        monkeypatch.delenv("TITANIC_SM_LANG", raising=False)
    else:
        monkeypatch.setenv("TITANIC_SM_LANG", lang)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["instances", "--region", "Mars"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{prefix}: --region must look like us-east-1, not 'Mars'"
