"""Small assertions shared by the UI tests."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from services import aws
from services.settings import Settings


def errors(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.error]


def texts(at: AppTest) -> str:
    """All markdown, captions, successes and infos of a run, joined: what a reader sees."""
    parts = [
        str(e.value)
        for kind in ("markdown", "caption", "success", "info", "warning")
        for e in getattr(at, kind)
    ]
    return "\n".join(parts)


def bucket_keys(settings: Settings) -> list[str]:
    """Every key in the settings' bucket; an absent bucket has none."""
    s3 = aws.client(settings, "s3")
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket)
        return [obj["Key"] for p in pages for obj in p.get("Contents", [])]
    except s3.exceptions.NoSuchBucket:
        return []
