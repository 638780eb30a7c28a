"""Session fixtures of the e2e tier, shared by every e2e test:

- ``e2e_settings``: local-target Settings on a temp state dir, so this session's stack has its own
  free ports and data and never touches a developer's running stack (or another session's);
- ``local_stack``: that stack (moto, registry, training control plane) started once, stopped at
  session end (also when it was started on demand by an AWS client on ``e2e_settings``);
- ``training_image``: the training image built (if its content is new), pushed to the stack's
  registry and pinned by digest, once per session. The offline base and the build's local tag are
  Docker images, so they are reused across sessions; only the push is per session.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from services import images
from services import local_stack as stack
from services.images import ImageRef
from services.local_stack import StackEndpoints
from services.settings import Settings


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("e2e")
    settings = Settings(
        target="local",
        state_dir=root / "state",
        runs_dir=root / "runs",
        data_dir=root / "data",
        bucket="titanic-sm-e2e",
    )
    try:
        yield settings
    finally:
        # Any AWS client on these settings starts the stack on demand: stop it however it started.
        registries = [s.address for s in stack.status(settings) if s.name == "registry" and s.address]
        stack.stop(settings)
        # The control plane pulled the image from this session's registry, whose port dies with it.
        for registry in registries:
            _remove_images_of(registry)


def _remove_images_of(registry: str) -> None:
    """Untag what the control plane pulled from ``registry``; by name, so the build's own tag stays."""
    query = ["--digests", "--filter", f"reference={registry}/*", "--format", "{{.Repository}}@{{.Digest}}"]
    listed = subprocess.run(["docker", "images", *query], capture_output=True, text=True, check=False)
    names = [name for name in listed.stdout.split() if not name.endswith("@<none>")]
    if names:
        subprocess.run(["docker", "rmi", *names], capture_output=True, check=False)


@pytest.fixture(scope="session")
def local_stack(e2e_settings: Settings) -> StackEndpoints:
    """This session's stack (``moto_url``, ``registry``); stopped with ``e2e_settings``."""
    return stack.ensure_running(e2e_settings)


@pytest.fixture(scope="session")
def training_image(e2e_settings: Settings, local_stack: StackEndpoints) -> ImageRef:
    """Built and pushed once per session; ``.uri_with_digest`` is what a job should use."""
    messages: list[str] = []
    ref = images.ensure_image(e2e_settings, progress=lambda stage, message: messages.append(message))
    assert ref.repository_uri.startswith(local_stack.registry), messages
    return ref
