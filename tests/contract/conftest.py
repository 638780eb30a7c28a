"""A moto server on 127.0.0.1 for the contract tier, and Settings pointing at it.

``services.aws`` reads a running local stack's endpoints (``local_stack.running_endpoints``);
here the test's own server stands in for that stack, so contract tests need neither Docker nor
the registry.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services import local_stack
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
    # This session's moto answers every service, SageMaker's API included (its jobs complete at
    # once), in place of a running local stack: what clients read, and what an edge would start.
    stack = local_stack.StackEndpoints(
        moto_url=moto_url, registry="127.0.0.1:0", state_dir=tmp_path / "stack", sagemaker_url=moto_url
    )
    monkeypatch.setattr(local_stack, "running_endpoints", lambda s: stack)
    monkeypatch.setattr(local_stack, "ensure_running", lambda s: stack)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    name = "".join(c for c in request.node.name.lower() if c.isalnum())[:30]
    bucket = f"titanic-sm-{name}-{uuid.uuid4().hex[:8]}"
    return Settings(
        state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", data_dir=tmp_path / "data", bucket=bucket
    )
