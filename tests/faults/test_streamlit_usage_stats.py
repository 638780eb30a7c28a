"""Streamlit's usage statistics are off in the project's own config, not only in the Makefile."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / ".streamlit" / "config.toml"


def test_the_project_config_turns_usage_statistics_off() -> None:
    assert tomllib.loads(CONFIG.read_text())["browser"]["gatherUsageStats"] is False


def test_a_plain_streamlit_run_from_the_project_root_reads_it() -> None:
    """What Streamlit itself resolves, with no flag or variable helping (as a newcomer runs it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("streamlit")), "config", "show"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    lines = shown.splitlines()
    index = lines.index("gatherUsageStats = false")
    assert str(CONFIG) in lines[index - 1], lines[index - 3 : index + 1]
