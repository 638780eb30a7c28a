"""boto3 sessions and clients for a target: the one place that knows where AWS is.

On ``aws`` this is the usual credential chain (env, profile, SSO, instance role), never shown.
On ``local`` every client points at the running local stack, with moto's fake credentials:
SageMaker's API at the stack's training control plane, every other service at its moto server.
The calls above this module, the SageMaker SDK's included, are byte-for-byte the AWS ones.

Asking for a client starts nothing: on ``local`` the endpoints are the ones the running stack
recorded (``local_stack.running_endpoints``, a file read), and a stack that is down is one
``LocalStackError`` line. The stack is started at the edges: ``titanic-sm local up`` / ``make run``,
the app's start, the CLI commands that use AWS, the worker process and the test fixtures.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
import botocore.config
import botocore.loaders
import botocore.session

from services.local import stack as local_stack
from services.local.stack import LOCAL_CREDENTIALS
from services.settings import Settings

__all__ = ["LOCAL_CREDENTIALS", "LocalStackSession", "boto_session", "client", "endpoint_url"]

# The services the training control plane answers; moto answers the rest.
CONTROL_PLANE_SERVICES = frozenset({"sagemaker"})
_LOOPBACK_PREFIXES = ("http://127.0.0.1:", "http://localhost:")

_RETRIES = botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"})


def endpoint_url(settings: Settings, service: str = "s3") -> str | None:
    """The running local stack's endpoint for ``service``; None on aws. Never starts anything."""
    if not settings.is_local:
        return None
    stack = local_stack.running_endpoints(settings)
    return stack.sagemaker_url if service in CONTROL_PLANE_SERVICES else stack.moto_url


class LocalStackSession(boto3.Session):
    """A boto3 session whose every client and resource talks to the given local endpoints.

    The SageMaker SDK builds its own clients from the session it is given (S3, Logs, STS with an
    explicit regional AWS endpoint): pinning the endpoint here keeps all of them on 127.0.0.1.
    An endpoint already on the loopback (the stack's own start-up calls) is kept as given.
    """

    def __init__(self, moto_url: str, sagemaker_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._moto_url = moto_url
        self._sagemaker_url = sagemaker_url

    def _pin(self, service_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        given = kwargs.get("endpoint_url")
        if not (isinstance(given, str) and given.startswith(_LOOPBACK_PREFIXES)):
            local = service_name in CONTROL_PLANE_SERVICES
            kwargs["endpoint_url"] = self._sagemaker_url if local else self._moto_url
        return kwargs

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        return super().client(service_name, *args, **self._pin(service_name, kwargs))

    def resource(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        return super().resource(service_name, *args, **self._pin(service_name, kwargs))


def _session_key(settings: Settings) -> tuple[Any, ...]:
    if settings.is_local:
        stack = local_stack.running_endpoints(settings)
        return ("local", settings.region, stack.moto_url, stack.sagemaker_url)
    return ("aws", settings.region, settings.aws_profile)


# botocore's endpoint and service data, parsed once per process: a new session parses them
# again (about 1 s on a busy machine), and a page that polls every 1.5 s must not pay that.
_DATA_LOADER = botocore.loaders.create_loader()


def load_service_models(services: tuple[str, ...] = ("sagemaker", "s3", "logs", "cloudwatch")) -> None:
    """Parse these services' botocore models into the shared loader now (a file read each, no
    network): the first client of each then costs a fraction, as a warm worker wants."""
    for service in services:
        _DATA_LOADER.load_service_model(service, "service-2")


def _new_session(key: tuple[Any, ...]) -> boto3.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _DATA_LOADER)
    if key[0] == "local":
        _, region, moto_url, sagemaker_url = key
        return LocalStackSession(
            moto_url, sagemaker_url, botocore_session=core, region_name=region, **LOCAL_CREDENTIALS
        )
    _, region, profile = key
    return boto3.Session(botocore_session=core, region_name=region, profile_name=profile)


def boto_session(settings: Settings) -> boto3.Session:
    """A new session for the settings' target (the SageMaker SDK keeps the one it is given)."""
    return _new_session(_session_key(settings))


# On local, one session per stack and process, and one client per service from it: their
# credentials are moto's fixed ones, so nothing can go stale. A new client costs about 50 ms of
# CPU (its methods, then its response shapes parsed again at first use), and a job's follower
# asks for one at every poll. boto3 sessions are not thread-safe (the app serves each tab in a
# thread), so clients are made under a lock; clients themselves are. On aws every client gets a
# fresh session, so the credential chain (env, profile, SSO) is read as it is now.
_LOCAL_SESSIONS: dict[tuple[Any, ...], boto3.Session] = {}
_LOCAL_CLIENTS: dict[tuple[Any, ...], Any] = {}
_LOCAL_SESSIONS_LOCK = threading.Lock()


def client(settings: Settings, service: str, **kwargs: Any) -> Any:
    """A boto3 client for ``service`` on the settings' target."""
    kwargs.setdefault("config", _RETRIES)
    key = _session_key(settings)
    if key[0] != "local":
        return boto_session(settings).client(service, **kwargs)  # the one way to a session
    with _LOCAL_SESSIONS_LOCK:
        cached = (os.getpid(), *key)
        session = _LOCAL_SESSIONS.get(cached)
        if session is None:
            session = _LOCAL_SESSIONS[cached] = boto_session(settings)
        if kwargs != {"config": _RETRIES}:  # a region or config of the caller's own: made for it
            return session.client(service, **kwargs)
        made = _LOCAL_CLIENTS.get((*cached, service))
        if made is None:
            made = _LOCAL_CLIENTS[(*cached, service)] = session.client(service, **kwargs)
        return made
