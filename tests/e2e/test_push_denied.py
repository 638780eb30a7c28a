"""A push the registry refuses (as ECR does without ecr:PutImage) is one line naming the image stage.

The stand-in registry accepts `docker login` and answers every repository request with the
Docker registry protocol's DENIED error, so the real `docker push` meets a real denial.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services import local_stack as stack_module
from services import pipeline
from services.images import ImageRef
from services.local_stack import StackEndpoints
from services.settings import Settings

DENIED = {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}


class _DenyingRegistry(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: dict[str, object], **headers: str) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _handle(self) -> None:
        if self.path.rstrip("/") == "/v2":  # the login check
            if self.headers.get("Authorization"):
                self._answer(200, {})
            else:
                self._answer(401, {"errors": []}, **{"WWW-Authenticate": 'Basic realm="stand-in"'})
            return
        if self.command == "HEAD":  # "do you have this layer?": no, so the client starts an upload
            self._answer(404, {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]})
            return
        self._answer(403, DENIED)  # the upload, as ECR without ecr:InitiateLayerUpload

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _handle

    def log_message(self, format: str, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def denying_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DenyingRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield address
    finally:
        server.shutdown()
        subprocess.run(["docker", "logout", address], capture_output=True, check=False)
        query = ["--filter", f"reference={address}/*", "--format", "{{.Repository}}:{{.Tag}}"]
        tagged = subprocess.run(
            ["docker", "images", *query],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if tagged:  # the push tagged the build for this registry
            subprocess.run(["docker", "rmi", *tagged], capture_output=True, check=False)


def test_a_denied_push_names_the_stage_and_the_cause(
    e2e_settings: Settings,
    local_stack: StackEndpoints,
    training_image: ImageRef,
    denying_registry: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same moto (ECR's API) and the same built image; only the registry refuses. A repository
    # ECR has no image in yet, so the image stage pushes.
    endpoints = replace(local_stack, registry=denying_registry)
    monkeypatch.setattr(stack_module, "ensure_running", lambda settings: endpoints)
    monkeypatch.setattr(stack_module, "running_endpoints", lambda settings: endpoints)
    settings = replace(e2e_settings, repository="titanic-push-denied")
    with pytest.raises(pipeline.StageError) as failure:
        pipeline.run_pipeline(settings)
    assert failure.value.stage == "image"
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith(f"image: the push to {denying_registry}/titanic-push-denied was denied")
    # Docker itself reports a refused upload as a bare "denied"; we say what to check.
    assert "failed: denied (the registry refused this caller" in message


def test_a_registry_that_refuses_to_read_says_why(
    e2e_settings: Settings,
    local_stack: StackEndpoints,
    training_image: ImageRef,
    denying_registry: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ECR (moto) already lists this session's image, so the image stage reads its manifest back.
    endpoints = replace(local_stack, registry=denying_registry)
    monkeypatch.setattr(stack_module, "ensure_running", lambda settings: endpoints)
    monkeypatch.setattr(stack_module, "running_endpoints", lambda settings: endpoints)
    with pytest.raises(pipeline.StageError) as failure:
        pipeline.run_pipeline(e2e_settings)
    assert str(failure.value) == (
        f"image: the local registry {denying_registry} answered 403 for "
        f"{e2e_settings.repository}@{training_image.digest}: "
        "DENIED: requested access to the resource is denied"
    )
