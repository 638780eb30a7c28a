"""Small assertions shared by the UI tests."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from services import aws
from services.settings import Settings

_ESCAPED = re.compile(r"\\(.)")
WORD_JOINER = "\u2060"  # what ui.escape_markdown puts inside an autolink pattern


def shown(markdown: str) -> str:
    """A Markdown body as the reader reads it: backslash escapes resolved, word joiners gone."""
    return _ESCAPED.sub(r"\1", markdown).replace(WORD_JOINER, "")


def errors(at: AppTest) -> list[str]:
    return [shown(str(e.value)) for e in at.error]


def texts(at: AppTest) -> str:
    """All markdown, captions, successes, infos and warnings of a run, joined: what a reader sees."""
    parts = [
        shown(str(e.value))
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
