"""boto3 sessions and clients for a target: the one place that knows where AWS is.

On ``aws`` this is the usual credential chain (env, profile, SSO, instance role), never shown.
On ``local`` every client points at the moto server of the local stack, with moto's fake
credentials, so the calls above this module are byte-for-byte the AWS ones.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config

from services.settings import Settings

__all__ = ["LOCAL_CREDENTIALS", "boto_session", "client", "endpoint_url"]

# moto accepts any key; fixed values keep SigV4 signatures and presigned URLs reproducible.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

_RETRIES = botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"})


def endpoint_url(settings: Settings) -> str | None:
    """The moto endpoint on local (starting the local stack if it is down); None on aws."""
    if not settings.is_local:
        return None
    from services import local_stack  # the stack is only needed on the local target

    return local_stack.ensure_running(settings).moto_url


def boto_session(settings: Settings) -> boto3.Session:
    if settings.is_local:
        return boto3.Session(region_name=settings.region, **LOCAL_CREDENTIALS)
    return boto3.Session(region_name=settings.region, profile_name=settings.aws_profile)


def client(settings: Settings, service: str, **kwargs: Any) -> Any:
    """A boto3 client for ``service`` on the settings' target."""
    kwargs.setdefault("config", _RETRIES)
    return boto_session(settings).client(service, endpoint_url=endpoint_url(settings), **kwargs)
