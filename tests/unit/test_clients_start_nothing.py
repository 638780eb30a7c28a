"""Asking for a client starts nothing: on local a client takes the running stack's recorded
endpoints, a stack that is down is one line naming the fix, and the client module and the stack
module do not import each other in a circle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services import aws, local_stack
from services.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def test_a_client_on_a_stack_that_never_ran_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(local_stack.LocalStackError) as raised:
        aws.client(settings, "s3")
    assert str(raised.value).startswith(
        "the local stack is not running: run `titanic-sm local up` or `make run`"
    )
    assert "\n" not in str(raised.value)
    # Nothing was started, so nothing was recorded either.
    assert not (settings.local_stack_dir / local_stack.STATE_FILE).exists()
    assert all(not service.running for service in local_stack.status(settings))


def test_a_stopped_stack_names_the_services_that_are_down(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.local_stack_dir.mkdir(parents=True)
    # What `local down` leaves: the ports kept for the next start, no pids.
    state = {name: {"pid": None, "port": 40000 + i} for i, name in enumerate(local_stack.SERVICES)}
    (settings.local_stack_dir / local_stack.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(local_stack.LocalStackError, match=r"\(moto, registry, control-plane down; state in "):
        aws.endpoint_url(settings, "sagemaker")
    with pytest.raises(local_stack.LocalStackError, match="is not running"):
        aws.boto_session(settings)


def test_the_aws_target_needs_no_stack(tmp_path: Path) -> None:
    settings = Settings(
        target="aws", state_dir=tmp_path / "state", bucket="b-titanic", role_arn="arn:aws:iam::1:role/r"
    )
    assert aws.endpoint_url(settings, "s3") is None
    assert aws.client(settings, "s3").meta.region_name == "us-east-1"
    assert not settings.local_stack_dir.exists()


def test_the_stack_module_does_not_import_the_client_module() -> None:
    probe = "import sys, services.local_stack; print('services.aws' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
