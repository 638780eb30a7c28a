"""The CLI as a user runs it, in a working folder of its own (used by the faults tier's fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from services.settings import ENV_PREFIX, Settings


@dataclass(frozen=True)
class CliHome:
    root: Path

    @property
    def settings(self) -> Settings:
        """What the CLI builds in ``root`` with ``--state-dir state`` (paths absolute)."""
        return Settings(
            state_dir=self.root / "state", runs_dir=self.root / "runs", data_dir=self.root / "data/processed"
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        return {**env, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}

    def command(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).with_name("titanic-sm")), "--state-dir", "state", *args]

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def untag_images_of(registry: str) -> None:
    query = ["--digests", "--filter", f"reference={registry}/*", "--format", "{{.Repository}}@{{.Digest}}"]
    listed = subprocess.run(["docker", "images", *query], capture_output=True, text=True, check=False)
    names = [name for name in listed.stdout.split() if not name.endswith("@<none>")]
    tags = subprocess.run(
        ["docker", "images", "--filter", f"reference={registry}/*", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    names += [tag for tag in tags if not tag.endswith(":<none>")]
    if names:
        subprocess.run(["docker", "rmi", *names], capture_output=True, check=False)
