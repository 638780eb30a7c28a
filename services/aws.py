"""boto3 sessions and clients for a target: the one place that knows where AWS is.

On ``aws`` this is the usual credential chain (env, profile, SSO, instance role), never shown.
On ``local`` every client points at the local stack, with moto's fake credentials: SageMaker's
API at the stack's training control plane, every other service at its moto server. The calls
above this module, the SageMaker SDK's included, are byte-for-byte the AWS ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.config

from services.settings import Settings

__all__ = ["LOCAL_CREDENTIALS", "LocalStackSession", "boto_session", "client", "endpoint_url"]

# moto accepts any key; fixed values keep SigV4 signatures and presigned URLs reproducible.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# The services the training control plane answers; moto answers the rest.
CONTROL_PLANE_SERVICES = frozenset({"sagemaker"})
_LOOPBACK_PREFIXES = ("http://127.0.0.1:", "http://localhost:")

_RETRIES = botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"})


def endpoint_url(settings: Settings, service: str = "s3") -> str | None:
    """The local stack's endpoint for ``service`` (starting the stack if it is down); None on aws."""
    if not settings.is_local:
        return None
    from services.local import stack as local_stack  # the stack is only needed on the local target

    stack = local_stack.ensure_running(settings)
    return stack.sagemaker_url if service in CONTROL_PLANE_SERVICES else stack.moto_url


class LocalStackSession(boto3.Session):
    """A boto3 session whose every client and resource talks to the local stack.

    The SageMaker SDK builds its own clients from the session it is given (S3, Logs, STS with an
    explicit regional AWS endpoint): pinning the endpoint here keeps all of them on 127.0.0.1.
    An endpoint already on the loopback (the stack's own start-up calls) is kept as given.
    """

    def __init__(self, endpoint_for: Callable[[str], str | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._endpoint_for = endpoint_for

    def _pin(self, service_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        given = kwargs.get("endpoint_url")
        if not (isinstance(given, str) and given.startswith(_LOOPBACK_PREFIXES)):
            kwargs["endpoint_url"] = self._endpoint_for(service_name)
        return kwargs

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        return super().client(service_name, *args, **self._pin(service_name, kwargs))

    def resource(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        return super().resource(service_name, *args, **self._pin(service_name, kwargs))


def boto_session(settings: Settings) -> boto3.Session:
    if settings.is_local:
        # Resolved when a client is made, not now: a session is cheap and starts nothing.
        return LocalStackSession(
            lambda service: endpoint_url(settings, service), region_name=settings.region, **LOCAL_CREDENTIALS
        )
    return boto3.Session(region_name=settings.region, profile_name=settings.aws_profile)


def client(settings: Settings, service: str, **kwargs: Any) -> Any:
    """A boto3 client for ``service`` on the settings' target."""
    kwargs.setdefault("config", _RETRIES)
    return boto_session(settings).client(service, **kwargs)
