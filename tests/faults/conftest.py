"""Fixtures of the faults tier.

``cli_home`` is a fresh working folder (so ``data/processed`` and ``runs/`` are its own) with a
fresh state dir; whatever local stack the CLI starts there is stopped at the end, and the images
local mode pulled from that stack's registry are untagged (the build's own tag stays).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_home import CliHome, untag_images_of

from services.local import stack as local_stack


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[CliHome]:
    home = CliHome(tmp_path / "home")
    home.root.mkdir()
    try:
        yield home
    finally:
        settings = home.settings
        registries = [s.address for s in local_stack.status(settings) if s.name == "registry" and s.address]
        local_stack.stop(settings)
        for registry in registries:
            untag_images_of(registry)
