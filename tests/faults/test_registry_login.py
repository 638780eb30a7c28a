"""The local registry's login is the stack's own: random per stack, kept 0600 in its state dir,
handed out by ECR's GetAuthorizationToken (what `docker login` through ECR uses), and a wrong
password is refused by the registry itself, through HTTP and through a real `docker login`."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from services import local_stack
from services.settings import Settings

MOTO_FIXED_PASSWORD = "123456789012-auth-token"  # what plain moto hands out on every install


@pytest.fixture
def two_stacks(tmp_path: Path) -> Iterator[tuple[Settings, Settings]]:
    stacks = (Settings(state_dir=tmp_path / "one"), Settings(state_dir=tmp_path / "two"))
    try:
        yield stacks
    finally:
        for settings in stacks:
            local_stack.stop(settings)


def _ecr_login(settings: Settings, endpoints: local_stack.StackEndpoints) -> tuple[str, str]:
    """What a plain boto3 client (as `aws ecr get-login-password`) gets from the stack's ECR."""
    ecr = boto3.client(
        "ecr",
        endpoint_url=endpoints.moto_url,
        region_name=settings.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def _status(url: str, login: tuple[str, str]) -> int:
    basic = base64.b64encode(":".join(login).encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {basic}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _docker_login(
    registry: str, login: tuple[str, str], config_dir: Path
) -> subprocess.CompletedProcess[str]:
    # A config folder of its own: the developer's ~/.docker/config.json is never touched.
    return subprocess.run(
        ["docker", "login", "--username", login[0], "--password-stdin", registry],
        input=login[1],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_CONFIG": str(config_dir)},
        timeout=60,
        check=False,
    )


def test_each_stack_has_its_own_registry_login_and_a_wrong_one_is_refused(
    two_stacks: tuple[Settings, Settings], tmp_path: Path
) -> None:
    one = two_stacks[0]
    endpoints = [local_stack.ensure_running(settings) for settings in two_stacks]
    logins = [_ecr_login(s, e) for s, e in zip(two_stacks, endpoints, strict=True)]
    for settings, login in zip(two_stacks, logins, strict=True):
        assert login == local_stack.registry_credentials(settings)
        assert login[0] == "AWS" and len(login[1]) >= 32 and login[1] != MOTO_FIXED_PASSWORD
        stored = settings.local_stack_dir / local_stack.REGISTRY_CREDENTIALS_FILE
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert logins[0][1] != logins[1][1]

    registry = endpoints[0].registry
    url = f"{endpoints[0].registry_url}/v2/"
    assert _status(url, logins[0]) == 200
    assert _status(url, logins[1]) == 401  # the other stack's login
    assert _status(url, ("AWS", MOTO_FIXED_PASSWORD)) == 401  # the login every moto gives

    refused = _docker_login(registry, ("AWS", MOTO_FIXED_PASSWORD), tmp_path / "docker")
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "401" in refused.stderr, refused.stderr
    accepted = _docker_login(registry, logins[0], tmp_path / "docker")
    assert accepted.returncode == 0, accepted.stderr

    # Down and up keep the login: pushed images and saved logins stay valid.
    local_stack.stop(one)
    again = local_stack.ensure_running(one)
    assert _ecr_login(one, again) == logins[0]
    assert _status(f"{again.registry_url}/v2/", logins[0]) == 200
