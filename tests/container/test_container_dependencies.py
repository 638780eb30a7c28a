"""container/ needs nothing beyond container/requirements.txt: its tests pass in a venv holding only that.

The venv holds container/requirements.txt + pytest (from PyPI) and is cached under
~/.cache/titanic-sm/ keyed by the requirements, so reruns take seconds. The container package
and its tests are copied to a temp folder without services/, so an import of anything else
(services, boto3, dabl, the host venv) fails there instead of passing by accident.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "titanic-sm"
# Tests that drive host code (train-here lives in services/) or build this venv stay out.
HOST_ONLY = ("test_container_dependencies.py", "test_train_here*.py")


def _pytest_pin() -> str:
    match = re.search(r"^pytest==\S+", (REPO_ROOT / "requirements.txt").read_text(), re.MULTILINE)
    return match.group(0) if match else "pytest"


def _container_venv() -> Path:
    """Create (once per requirements) a venv with only container/requirements.txt and pytest."""
    requirements = REPO_ROOT / "container" / "requirements.txt"
    pins = requirements.read_text() + _pytest_pin() + sys.version
    venv = CACHE_ROOT / f"container-venv-{hashlib.sha256(pins.encode()).hexdigest()[:12]}"
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / "container-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once must not build the same venv
        ready = venv / ".ready"
        if not ready.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ]
            subprocess.run([*pip, "-r", str(requirements), _pytest_pin()], check=True)
            ready.write_text(pins)
    return venv


def _copy_container_tree(destination: Path) -> None:
    shutil.copytree(
        REPO_ROOT / "container", destination / "container", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(REPO_ROOT / "pyproject.toml", destination / "pyproject.toml")
    (destination / "tests").mkdir()
    shutil.copy2(REPO_ROOT / "tests" / "conftest.py", destination / "tests" / "conftest.py")
    shutil.copytree(
        REPO_ROOT / "tests" / "container",
        destination / "tests" / "container",
        ignore=shutil.ignore_patterns("__pycache__", *HOST_ONLY),
    )


def test_container_tests_pass_with_only_container_requirements(tmp_path: Path) -> None:
    venv_python = _container_venv() / "bin" / "python"
    _copy_container_tree(tmp_path)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    environment["PYTHONPATH"] = str(tmp_path)
    environment["PATH"] = f"{venv_python.parent}:/usr/bin:/bin"

    # The venv really is bare: none of the host's packages are importable in it.
    for host_only in ("services", "boto3", "sagemaker", "dabl", "streamlit"):
        probe = subprocess.run(
            [str(venv_python), "-c", f"import {host_only}"],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
        )
        assert probe.returncode != 0, f"{host_only} is importable in the container-only venv"

    result = subprocess.run(
        [str(venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/container"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", summary), summary
    assert "skipped" not in summary and "error" not in summary, summary
