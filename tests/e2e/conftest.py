"""Session fixtures of the e2e tier. The stack and the image are shared with the peer tier
(``stack_settings``, ``local_stack``, ``training_image`` in tests/conftest.py); ``e2e_settings`` is
the name the e2e tests know them by.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from services.local.stack import StackEndpoints
from services.settings import Settings


@pytest.fixture(scope="session")
def e2e_settings(stack_settings: Settings, local_stack: StackEndpoints) -> Settings:
    """The session's settings, with its stack started (clients on them never start it)."""
    return stack_settings


REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(settings, *args, env={...})``: ``titanic-sm ARGS`` as a user runs it (``python -m
    services``), in the settings' environment (plus ``env``), from the repository root."""

    def run(
        settings: Settings, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            **settings.as_env(),
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
            **(env or {}),
        }
        return subprocess.run(
            [sys.executable, "-m", "services", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    return run
