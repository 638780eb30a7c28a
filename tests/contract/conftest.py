"""A moto server on 127.0.0.1 for the contract tier, and Settings pointing at it.

``services.aws`` finds moto through ``services.local.stack.ensure_running``; here the test's own
server stands in for the local stack, so contract tests need neither Docker nor the registry.
"""

from __future__ import annotations

import sys
import types
import uuid
from pathlib import Path

import pytest

from services import aws
from services.settings import Settings


@pytest.fixture
def settings(
    tmp_path: Path,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    real_aws_account: bool,
) -> Settings:
    """Local-target settings whose every AWS client talks to this session's moto server.

    Each test gets its own bucket and state dir, so tests never see each other's objects.
    With TITANIC_SM_AWS_VERIFIED=1, an `aws_verified` test gets aws-target settings from the
    TITANIC_SM_* variables instead (see docs/aws.md), under its own key prefix in that bucket.
    """
    if real_aws_account:
        base = Settings.from_env(target="aws")
        return base.with_overrides(
            state_dir=tmp_path / "state",
            runs_dir=tmp_path / "runs",
            data_dir=tmp_path / "data",
            prefix=f"{base.prefix}/contract-tests/{uuid.uuid4().hex[:8]}",
        )
    # moto answers every service here, SageMaker's API included (its jobs complete at once).
    monkeypatch.setattr(aws, "endpoint_url", lambda s, service="s3": moto_url if s.is_local else None)
    # Whoever reaches the local stack directly gets the same server, never a real stack.
    stack = types.SimpleNamespace(moto_url=moto_url, registry="127.0.0.1:0", sagemaker_url=moto_url)
    try:
        import services.local.stack as local_stack
    except ImportError:
        local_stack = types.ModuleType("services.local.stack")
        monkeypatch.setitem(sys.modules, "services.local.stack", local_stack)
    monkeypatch.setattr(local_stack, "ensure_running", lambda s: stack, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    name = "".join(c for c in request.node.name.lower() if c.isalnum())[:30]
    bucket = f"titanic-sm-{name}-{uuid.uuid4().hex[:8]}"
    return Settings(
        state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", data_dir=tmp_path / "data", bucket=bucket
    )
