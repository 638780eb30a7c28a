"""Each stage of `titanic-sm run` timed, cold and warm (`make bench-run`):
``python -m benchmarks.bench_run [WARM_RUNS]`` on the stack of the ``TITANIC_SM_*`` settings.

Cold is a fresh state dir (a new stack, an empty bucket, the image pushed again; the Docker build
cache is kept), warm is everything cached, WARM_RUNS times (default 3), printed as median and
range with the load average; the fit's overhead is the fit stage's wall time minus the
container's own run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.bench_stats import figure_line, load_average, machine_line
from services.pipeline import PipelineResult, StageError, run_pipeline
from services.settings import ENV_PREFIX, Settings

__all__ = ["bench", "container_seconds"]


def container_seconds(training_job: Mapping[str, Any]) -> float | None:
    """How long the container itself ran: its Training phase in SageMaker's secondary transitions."""
    for transition in training_job.get("SecondaryStatusTransitions") or []:
        if transition.get("Status") == "Training" and transition.get("EndTime"):
            return float(transition["EndTime"]) - float(transition["StartTime"])
    return None


BENCH_GOALS = {"total": 8.0, "fit overhead": 2.0}  # issue 8, warm


BENCH_STAGES = ("stack", "preflight", "data", "upload", "image", "build", "push", "fit", "verify", "download")


def bench(settings: Settings, warm_runs: int = 3) -> int:
    """Each stage's wall time, cold once (a fresh state dir: new stack, empty bucket, the image
    pushed again; the Docker build cache is kept) and then warm ``warm_runs`` times (everything
    cached), with the fit's overhead: the fit stage's wall time minus the container's own run.
    Warm figures are printed as median and range, each with the load average while measured."""
    from services.jobs.store import JobStore
    from services.local import stack as local_stack

    state = Path(tempfile.mkdtemp(prefix="titanic-bench-"))
    cold_settings = replace(
        settings, state_dir=state / "state", runs_dir=state / "runs", data_dir=state / "data"
    )
    print(machine_line(), flush=True)
    rows: list[tuple[str, PipelineResult, float, float | None, float]] = []
    cpu: dict[str, float] = {}  # this process's CPU seconds per run: what a busy machine cannot inflate
    typed: list[float] = []  # `titanic-sm run` as a user types it: a new process, the SDK imported again
    typed_loads: list[float] = []
    try:
        for label in ["cold"] + [f"warm {n + 1}" for n in range(warm_runs)]:
            started = time.monotonic()
            cpu_started = _cpu_seconds()
            result = run_pipeline(cold_settings, hyperparameters={"num_leaves": 7})
            total = time.monotonic() - started
            cpu[label] = _cpu_seconds() - cpu_started
            job = JobStore(cold_settings.job_store_path).get(result.job_id)
            rows.append((label, result, total, container_seconds(job.training_job), load_average()))
            print(f"{label}: {total:.1f} s (load {rows[-1][4]:.1f})", flush=True)
        for n in range(warm_runs):
            typed.append(_run_as_typed(cold_settings))
            typed_loads.append(load_average())
            print(f"as typed {n + 1}: {typed[-1]:.1f} s (load {typed_loads[-1]:.1f})", flush=True)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        local_stack.stop(cold_settings)
        shutil.rmtree(state, ignore_errors=True)

    def figures(row: tuple[str, PipelineResult, float, float | None, float]) -> dict[str, float | None]:
        _, result, total, ran, _ = row
        values: dict[str, float | None] = {stage: result.seconds.get(stage, 0.0) for stage in BENCH_STAGES}
        values["total"] = total
        values["container run"] = ran
        values["fit overhead"] = result.seconds.get("fit", 0.0) - ran if ran else None
        values["host CPU"] = cpu.get(row[0])
        return values

    table = [figures(row) for row in rows]
    print(f"\n{'stage':<16}" + "".join(f"{label:>10}" for label, *_ in rows))
    for name in table[0]:
        print(f"{name:<16}" + "".join(_seconds(values[name]) for values in table))
    print(f"{'load (1 min)':<16}" + "".join(f"{load:>10.1f}" for *_, load in rows))
    warm = table[1:]
    warm_loads = [load for *_, load in rows[1:]]
    if warm:
        print(f"\nwarm, over {len(warm)} runs:")
        for name in ("total", "fit", "container run", "fit overhead", "host CPU"):
            values = [v for v in (w[name] for w in warm) if v is not None]
            goal = BENCH_GOALS.get(name)
            verdict = ""
            if goal is not None and values:
                verdict = f"  goal <= {goal:g} s {'ok' if statistics.median(values) <= goal else 'MISSED'}"
            print(figure_line(f"warm {name}", values, warm_loads, width=20) + verdict)
    if typed:
        goal = BENCH_GOALS["total"]
        verdict = f"  goal <= {goal:g} s {'ok' if statistics.median(typed) <= goal else 'MISSED'}"
        print(figure_line("warm run as typed", typed, typed_loads, width=20) + verdict)
    print("cold: a fresh state dir (stack and bucket new; image pushed again; Docker build cache kept)")
    print("fit overhead: the fit stage's wall time minus the container's run (its Training phase)")
    print("host CPU: CPU seconds of this process per run (the SDK is already imported), whatever the load")
    print("as typed: `titanic-sm run` in a new process, on the same stack: Python, our imports and the SDK's")
    return 0


def _run_as_typed(settings: Settings) -> float:
    """Wall seconds of `titanic-sm run` as a user types it, on the settings' (running) stack."""
    env = {
        **os.environ,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        f"{ENV_PREFIX}STATE_DIR": str(settings.state_dir),
        f"{ENV_PREFIX}RUNS_DIR": str(settings.runs_dir),
        f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir),
    }
    command = [str(Path(sys.executable).with_name("titanic-sm")), "run", "--hp", "num_leaves=7"]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise StageError("run", f"`titanic-sm run` exited {done.returncode}: {tail[0]}")
    return seconds


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _seconds(value: float | None) -> str:
    return f"{value:>9.1f}s" if value is not None else f"{'n/a':>10}"


if __name__ == "__main__":
    import logging

    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    # As in `titanic-sm run`: the SDK's import-time INFO logging would bury the table.
    for name in ("sagemaker", "sagemaker.config", "botocore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    sys.exit(bench(Settings.from_env(), int(sys.argv[1]) if len(sys.argv) > 1 else 3))
