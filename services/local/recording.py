"""moto's state across restarts: its own request recorder, compacted, then replayed.

moto keeps everything in memory. Its server can record every request it serves to a file
(``MOTO_ENABLE_RECORDING``, ``MOTO_RECORDER_FILEPATH``) and replay that file into a fresh server
(``POST /moto-api/recorder/replay-recording``). The recording is appended to as requests arrive,
so it also survives a crash or a machine restart, not only a clean ``down``.

Replaying reads is pointless and the dashboard polls logs all day, so before each start the
recording is compacted to the requests that change state: reads (GET/HEAD, and the
Get/Describe/List/... operations of the JSON, query and CBOR protocols) are dropped. Entries are
parsed one JSON document after another, not line by line: moto's threads append an entry and its
newline in two writes, so two entries can share a line.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["compact", "entries", "is_read"]

_READ_VERBS = (
    "Get",
    "Describe",
    "List",
    "BatchGet",
    "BatchCheck",
    "Filter",
    "Head",
    "Lookup",
    "Test",
    "Simulate",
)


def entries(text: str) -> Iterator[dict[str, Any]]:
    """Every recorded request in ``text``; a torn last entry (killed mid-write) is skipped."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position] in " \r\n\t":
            position += 1
        if position >= len(text):
            return
        try:
            entry, position = decoder.raw_decode(text, position)
        except ValueError:
            newline = text.find("\n", position)
            if newline < 0:
                return
            position = newline + 1
            continue
        if isinstance(entry, dict):
            yield entry


def _operation(entry: dict[str, Any]) -> str:
    headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    path = urllib.parse.urlparse(str(entry.get("url", ""))).path
    if "/operation/" in path:  # smithy rpc-v2-cbor: /service/<service>/operation/<Operation>
        return path.rsplit("/", 1)[-1]
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = entry.get("body") or ""
        if not entry.get("body_encoded"):
            action = urllib.parse.parse_qs(str(body)).get("Action")
            if action:
                return action[0]
    return ""


def is_read(entry: dict[str, Any]) -> bool:
    """Whether replaying ``entry`` would change nothing."""
    if str(entry.get("method", "")).upper() in ("GET", "HEAD", "OPTIONS"):
        return True
    return _operation(entry).startswith(_READ_VERBS)


def compact(path: Path) -> tuple[int, int]:
    """Keep only the state-changing requests of the recording at ``path``; (kept, dropped)."""
    if not path.is_file():
        return 0, 0
    kept: list[str] = []
    dropped = 0
    for entry in entries(path.read_text(encoding="utf-8", errors="replace")):
        if is_read(entry):
            dropped += 1
        else:
            kept.append(json.dumps(entry))
    partial = path.with_name(path.name + ".tmp")
    partial.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(partial, path)
    return len(kept), dropped
