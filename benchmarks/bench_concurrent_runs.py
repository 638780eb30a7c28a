"""Wall time of 5 concurrent `titanic-sm run` against one (`make bench-run`).

Everything happens in a temp folder with its own state dir: a warm-up run first (it starts the
stack and pushes the image into the fresh registry, which is not what is measured), then one run
alone, then five at once. Each run is the CLI as a user types it, so whatever runs the job behind
`titanic-sm run` is what is measured. The stack is stopped, its images untagged and the folder
removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.local import stack as local_stack
from services.settings import ENV_PREFIX, Settings

CONCURRENT = 5
RUN_ARGS = ("run", "--hp", "num_leaves=7")
QUOTAS_FILE = "quotas.json"  # in the temp folder: the sample quotas, with room for CONCURRENT jobs


def _write_quotas(home: Path) -> Path:
    """The shipped sample quotas with ml.m5.large raised to CONCURRENT instances: the stack refuses
    jobs above its quota as a new account does, and the shipped sample allows one at a time."""
    from importlib import resources

    from services.instance import quotas

    shipped = resources.files("services.instance") / "data" / quotas.SAMPLE_FILE
    sample = json.loads(shipped.read_text())
    for page in sample["ListServiceQuotas"]:
        for quota in page["Quotas"]:
            if quota["QuotaName"].startswith("ml.m5.large for "):
                quota["Value"] = float(CONCURRENT)
    sample["source"] = f"bench_concurrent_runs: the sample quotas with ml.m5.large at {CONCURRENT}"
    path = home / QUOTAS_FILE
    path.write_text(json.dumps(sample, indent=1))
    return path


def _start(home: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env[f"{ENV_PREFIX}LOCAL_QUOTAS_FILE"] = str(home / QUOTAS_FILE)
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("titanic-sm")), "--state-dir", "state", *RUN_ARGS],
        cwd=home,
        env={**env, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _timed(home: Path, count: int) -> float:
    """Seconds until ``count`` runs started together have all ended; exits on any failure."""
    started = time.monotonic()
    processes = [_start(home) for _ in range(count)]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            tail = stderr.strip().splitlines()[-1:] or ["no output"]
            raise SystemExit(f"error: a run failed (exit {process.returncode}): {tail[0]}")
    return time.monotonic() - started


def _untag_images_of(registry: str) -> None:
    """The push's tag and what was pulled from the stopped registry (the build's own tag stays)."""
    listed = subprocess.run(
        [
            "docker",
            "images",
            "--digests",
            "--filter",
            f"reference={registry}/*",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    names = [name for name in listed if not name.endswith(("<none>", ":"))]
    if names:
        subprocess.run(["docker", "rmi", *names], capture_output=True, check=False)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="titanic-bench-concurrent-"))
    settings = Settings(
        state_dir=home / "state",
        runs_dir=home / "runs",
        data_dir=home / "data/processed",
        local_quotas_file=_write_quotas(home),
    )
    try:
        warm_up = _timed(home, 1)
        one = _timed(home, 1)
        many = _timed(home, CONCURRENT)
    finally:
        registries = [s.address for s in local_stack.status(settings) if s.name == "registry" and s.address]
        local_stack.stop(settings)
        for registry in registries:
            _untag_images_of(registry)
        shutil.rmtree(home, ignore_errors=True)
    print(f"{'runs':<22}{'wall':>9}{'per run':>10}")
    print(f"{'warm-up (fresh stack)':<22}{warm_up:>8.1f}s{warm_up:>9.1f}s")
    print(f"{'1 alone':<22}{one:>8.1f}s{one:>9.1f}s")
    print(f"{f'{CONCURRENT} at once':<22}{many:>8.1f}s{many / CONCURRENT:>9.1f}s")
    ratio = many / one
    print(f"{CONCURRENT} concurrent runs take {ratio:.1f}x the wall time of one ({os.cpu_count()} CPUs here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
