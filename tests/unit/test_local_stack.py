"""The local stack for real: moto, Debian's docker-registry and the training control plane as
detached processes on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.local import stack as local_stack
from services.local.stack import LocalStackError
from services.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(state_dir=tmp_path / "state")
    try:
        yield settings
    finally:
        local_stack.stop(settings)


def _pids(settings: Settings) -> dict[str, int | None]:
    return {s.name: s.pid for s in local_stack.status(settings)}


def _get(url: str, auth: tuple[str, str] | None = None) -> int:
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()} if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_up_is_idempotent_and_down_stops_all(settings: Settings) -> None:
    endpoints = local_stack.ensure_running(settings)
    assert endpoints.moto_url.startswith("http://127.0.0.1:")
    assert endpoints.registry.startswith("127.0.0.1:")
    assert endpoints.state_dir == settings.local_stack_dir.resolve()
    assert endpoints.sagemaker_url.startswith("http://127.0.0.1:")
    statuses = local_stack.status(settings)
    assert [s.name for s in statuses] == ["moto", "registry", "control-plane"]
    assert all(s.running and s.healthy for s in statuses)
    pids = _pids(settings)

    assert local_stack.ensure_running(settings) == endpoints
    assert _pids(settings) == pids, "a second call starts nothing"

    assert local_stack.stop(settings) == ["moto", "registry", "control-plane"]
    assert not any(s.running for s in local_stack.status(settings))
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids.values())
    assert local_stack.stop(settings) == []


def test_ports_survive_a_restart_so_image_uris_stay_valid(settings: Settings) -> None:
    first = local_stack.ensure_running(settings)
    local_stack.stop(settings)
    assert local_stack.ensure_running(settings) == first


def test_registry_demands_the_ecr_token_like_ecr(settings: Settings) -> None:
    endpoints = local_stack.ensure_running(settings)
    user, password = local_stack.ecr_login_secret(settings, endpoints.moto_url)
    assert user == "AWS" and password
    assert _get(f"{endpoints.registry_url}/v2/") == 401
    assert _get(f"{endpoints.registry_url}/v2/", (user, "not-the-token")) == 401
    assert _get(f"{endpoints.registry_url}/v2/", (user, password)) == 200


def test_moto_outlives_its_starter_and_serves_other_processes(tmp_path: Path) -> None:
    # The CLI starts the stack and exits; the app and workers then use it from other processes.
    state_dir = tmp_path / "state"
    code = (
        "from pathlib import Path; from services.local import stack as local_stack;"
        "from services.settings import Settings;"
        f"print(local_stack.ensure_running(Settings(state_dir=Path({str(state_dir)!r}))).moto_url)"
    )
    started = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    settings = Settings(state_dir=state_dir)
    try:
        moto_url = started.stdout.strip()
        assert all(s.healthy for s in local_stack.status(settings))
        assert _get(f"{moto_url}/moto-api/") == 200
        assert local_stack.ensure_running(settings).moto_url == moto_url
    finally:
        local_stack.stop(settings)


def test_stale_pids_are_replaced_and_foreign_pids_never_killed(settings: Settings) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stack_dir = settings.local_stack_dir
    stack_dir.mkdir(parents=True)
    # moto's pid is gone; the registry's pid now belongs to another program (this test run).
    state = {"moto": {"pid": dead.pid, "port": 1}, "registry": {"pid": os.getpid(), "port": 2}}
    (stack_dir / "stack.json").write_text(json.dumps(state))
    assert not any(s.running for s in local_stack.status(settings))

    local_stack.ensure_running(settings)
    pids = _pids(settings)
    assert dead.pid not in pids.values() and os.getpid() not in pids.values()
    assert all(s.healthy for s in local_stack.status(settings))
    local_stack.stop(settings)
    assert Path(f"/proc/{os.getpid()}").exists()


def test_a_registry_that_cannot_start_is_one_line_naming_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        local_stack, "registry_command", lambda config: ["sh", "-c", "echo 'listen tcp: bind refused' >&2"]
    )
    with pytest.raises(LocalStackError, match=r"^the Docker registry failed to start on 127\.0\.0\.1:\d+: "):
        local_stack.ensure_running(settings)
    with pytest.raises(LocalStackError, match=r"listen tcp: bind refused$"):
        local_stack.ensure_running(settings)


def test_a_missing_registry_binary_says_what_to_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_stack, "registry_command", lambda config: ["/nonexistent/docker-registry"])
    with pytest.raises(LocalStackError, match=r"is not installed \(run `make docker`\)$"):
        local_stack.ensure_running(settings)


def test_an_unreadable_state_file_is_named(settings: Settings) -> None:
    settings.local_stack_dir.mkdir(parents=True)
    (settings.local_stack_dir / "stack.json").write_text("{not json")
    with pytest.raises(LocalStackError, match=r"stack\.json is unreadable"):
        local_stack.status(settings)
    with pytest.raises(LocalStackError, match=r"stack\.json is unreadable"):
        local_stack.ensure_running(settings)
    (settings.local_stack_dir / "stack.json").unlink()


def test_cli_up_status_down(tmp_path: Path) -> None:
    cli = [str(Path(sys.executable).parent / "titanic-sm"), "--state-dir", str(tmp_path / "state")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=60)

    try:
        up = run("local", "up")
        assert up.returncode == 0, up.stderr
        lines = dict(line.split(":", 1) for line in up.stdout.splitlines())
        assert lines["moto"].strip().startswith("http://127.0.0.1:")
        registry = lines["registry"].strip()
        status = run("local", "status")
        assert status.returncode == 0 and status.stdout.count("healthy") == 3 and registry in status.stdout
        described = json.loads(run("local", "status", "--json").stdout)
        assert described["registry"]["address"] == registry and described["moto"]["healthy"] is True
    finally:
        down = run("local", "down")
    assert down.returncode == 0 and down.stdout.strip() == "stopped: moto, registry, control-plane"
    after = run("local", "status")
    assert after.returncode == 1 and after.stdout.count("stopped") == 3
