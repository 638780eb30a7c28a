"""Shared fixtures. Each tier's folder gets its marker, so `-m unit` etc. select by folder."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from services.images import ImageRef
    from services.local_stack import StackEndpoints
    from services.settings import Settings

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


# The Docker tiers (peer, e2e) share one local stack and one pushed image per session:
# - ``stack_settings``: local-target Settings on a temp state dir, so this session's stack has its
#   own free ports and data and never touches a developer's running stack (or another session's);
#   stops are SIGKILLed after a short grace, so stop tests do not wait SageMaker's 120 s;
# - ``local_stack``: that stack (moto, registry, control plane) started once, here (a client never
#   starts it), and stopped at session end (also when a CLI command on these settings started it);
# - ``training_image``: the training image built (if its content is new), pushed to the stack's
#   registry and pinned by digest, once per session. The offline base and the build's local tag are
#   Docker images, so they are reused across sessions; only the push is per session.
STOP_GRACE_SECONDS = 5


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    from services import local_stack as stack
    from services.settings import Settings

    root = tmp_path_factory.mktemp("stack")
    settings = Settings(
        target="local",
        state_dir=root / "state",
        runs_dir=root / "runs",
        data_dir=root / "data",
        bucket="titanic-sm-e2e",
        local_stop_grace_seconds=STOP_GRACE_SECONDS,
    )
    try:
        yield settings
    finally:
        # The fixture, or a CLI command or worker on these settings, started it: stop it either way.
        registries = [s.address for s in stack.status(settings) if s.name == "registry" and s.address]
        stack.stop(settings)
        # Jobs pulled the image from this session's registry, whose port dies with it.
        for registry in registries:
            _remove_images_of(registry)


def _remove_images_of(registry: str) -> None:
    """Untag what jobs pulled from ``registry``; by name, so the build's own tag stays."""
    query = ["--digests", "--filter", f"reference={registry}/*", "--format", "{{.Repository}}@{{.Digest}}"]
    listed = subprocess.run(["docker", "images", *query], capture_output=True, text=True, check=False)
    names = [name for name in listed.stdout.split() if not name.endswith("@<none>")]
    if names:
        subprocess.run(["docker", "rmi", *names], capture_output=True, check=False)


@pytest.fixture(scope="session")
def local_stack(stack_settings: Settings) -> StackEndpoints:
    """This session's stack (``moto_url``, ``registry``, ``sagemaker_url``), stopped with the settings."""
    from services import local_stack as stack

    return stack.ensure_running(stack_settings)


@pytest.fixture(scope="session")
def training_image(stack_settings: Settings, local_stack: StackEndpoints) -> ImageRef:
    """Built and pushed once per session; ``.uri_with_digest`` is what a job should use."""
    from services import images

    messages: list[str] = []
    ref = images.ensure_image(stack_settings, progress=lambda stage, message: messages.append(message))
    assert ref.repository_uri.startswith(local_stack.registry), messages
    return ref
