"""Shared fixtures. Each tier's folder gets its marker, so `-m unit` etc. select by folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

TIERS = ("unit", "container", "contract", "peer", "faults", "ui", "e2e")
REPO_ROOT = Path(__file__).resolve().parent.parent
# The one switch that lets contract tests use the real credential chain (docs/aws.md, section 6a);
# TITANIC_SM_REAL_AWS is its old name and still works.
REAL_AWS_ENV = "TITANIC_SM_AWS_VERIFIED"
REAL_AWS_ENV_OLD = "TITANIC_SM_REAL_AWS"


def real_aws_requested() -> bool:
    return "1" in (os.environ.get(REAL_AWS_ENV), os.environ.get(REAL_AWS_ENV_OLD))


@pytest.fixture
def real_aws_account(request: pytest.FixtureRequest) -> bool:
    """True when this test should talk to a real account instead of moto."""
    marked = request.node.get_closest_marker("aws_verified") is not None
    return marked and real_aws_requested()


MOTO_ONLY = pytest.mark.skip(
    reason="against moto only: it creates jobs, stacks or users, or needs moto's IAM enforcement or a "
    "Stubber (docs/aws.md, 6a); the aws_verified tests run against the account"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    real = real_aws_requested()
    for item in items:
        tier = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        # With the real-account switch on, every contract test either runs against the account
        # (aws_verified) or says why it cannot; none silently talks to moto.
        if real and tier == "contract" and item.get_closest_marker("aws_verified") is None:
            item.add_marker(MOTO_ONLY)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, real_aws_account: bool) -> None:
    """Fake credentials everywhere, so no test can reach a real account by accident."""
    # A titanic-sm.toml in the working directory must not change what a test sees.
    monkeypatch.setenv("TITANIC_SM_CONFIG", os.devnull)
    if real_aws_account:
        return
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    # No shared config or credentials file either: a profile there could name a real account.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server on 127.0.0.1 for the session (contract and ui tiers)."""
    from moto.server import ThreadedMotoServer  # only the tiers that use it pay for the import

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
