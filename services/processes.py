"""The host processes the project starts and watches (workers, standbys): whether a pid still
runs, and how a detached one is started."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

__all__ = ["pid_alive", "spawn_detached"]


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs on this host and is not a zombie (an unreaped child is dead to us)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is the best evidence
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def spawn_detached(command: list[str], environ: Mapping[str, str], log_path: Path, cwd: Path) -> int:
    """Start a worker process (a job's, or a standby) in its own session, so it survives its caller
    (a Streamlit rerun, a closed terminal), with its output appended to ``log_path``; its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            env=dict(environ),
        )
    # Reap it when it exits, so a long-lived caller (the dashboard) never keeps a zombie.
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return process.pid
