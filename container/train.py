"""The training entry point: ``python -m container.train train`` (the image's ENTRYPOINT + verb).

SageMaker starts the image as ``docker run IMAGE train``, so ``train`` arrives as the first
argument; ``serve`` or any other verb is a user error. One run:

    hyperparameters.json + resourceconfig.json + inputdataconfig.json -> typed settings
    input/data/train (+ validation) -> validated frames
    -> fit (resuming from checkpoints/ when a matching checkpoint is there) -> CV on train
    -> model/model.joblib + model/metrics.json, and one stdout line per metric

Every failure goes through ``container.errors.report_failure``: output/failure, a
``Failure reason:`` line on stderr and exit 1 (user) or 2 (framework); SIGTERM exits 143.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from container.contract import Paths

if TYPE_CHECKING:
    from container.checkpointing import StopSignal

__all__ = ["METRICS_SCHEMA_VERSION", "main", "train"]

METRICS_SCHEMA_VERSION = 1
CSV_CONTENT_TYPES = frozenset({"text/csv", "csv", "application/csv", "application/x-csv"})
PROGRESS_EVERY_ROUNDS = 25
VERSIONED_LIBRARIES = ("lightgbm", "scikit-learn", "pandas", "numpy")


def log(message: str) -> None:
    """One progress line on stdout, flushed at once so `docker logs` and CloudWatch see it live."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} trainer: {message}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verb in ``argv`` (the arguments after the program name; default ``sys.argv[1:]``).

    No verb means ``train``, so ``python -m container.train`` works by hand too.
    Returns the exit code: 0, 1 (user error), 2 (framework error) or 143 (stopped by SIGTERM).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    paths = Paths.from_env()
    try:
        # Imported here, not at module level, so even a broken install (e.g. lightgbm without
        # libgomp) becomes a failure file rather than a bare traceback.
        from container.checkpointing import StopSignal
        from container.errors import UserError

        stop = StopSignal()
        if threading.current_thread() is threading.main_thread():
            stop.install()
        try:
            verb = arguments[0] if arguments else "train"
            if verb != "train" or len(arguments) > 1:
                raise UserError(
                    f"unsupported command {' '.join(arguments)!r}: this image only trains "
                    "(SageMaker starts it as 'train'; hosting with 'serve' is not implemented)"
                )
            train(paths, stop)
        finally:
            stop.restore()
        return 0
    except Exception as exc:
        from container.errors import report_failure

        return report_failure(exc, paths.failure_file)


def train(paths: Paths, stop: StopSignal) -> dict[str, Any]:
    """One training run on the tree ``paths`` describes; returns the metrics.json document."""
    # The first line goes out before the libraries load (pandas, scikit-learn, LightGBM: about
    # 2 s of the container's start), so the job's log shows it is running at once.
    if paths.failure_file.exists():
        paths.failure_file.unlink()
        log(f"removed {paths.failure_file} left by an earlier attempt")
    log(f"starting: base directory {paths.base}, python {platform.python_version()}")

    import joblib

    from container import hyperparameters as hyperparameter_schema
    from container.checkpointing import boosting_callback, fingerprint, load_checkpoint
    from container.contract import TRAIN_CHANNEL, VALIDATION_CHANNEL
    from container.data import read_channel
    from container.errors import UserError
    from container.metrics import evaluate, metric_lines, print_metrics
    from container.model import check_cv_folds, cross_validate, feature_importance, fit_model, predict_proba

    log("libraries loaded")

    raw_hyperparameters = _read_json_object(paths.hyperparameters_file, "hyperparameters", required=False)
    ignored = hyperparameter_schema.platform_keys(raw_hyperparameters)
    if ignored:
        log(f"ignoring SageMaker platform keys (not trainer settings): {', '.join(ignored)}")
    hp = hyperparameter_schema.parse(raw_hyperparameters)
    given = sorted(key for key in raw_hyperparameters if key not in ignored)
    log(
        f"hyperparameters (given: {', '.join(given) or 'none'}; others default): "
        f"{json.dumps(hp, sort_keys=True)}"
    )
    _check_resources(paths)
    channels = _check_input_config(paths)

    train_dir = paths.channel_dir(TRAIN_CHANNEL)
    if not train_dir.is_dir():
        raise UserError(f"missing required channel 'train': no folder {train_dir}")
    validation_dir = paths.channel_dir(VALIDATION_CHANNEL)
    if VALIDATION_CHANNEL in channels and not validation_dir.is_dir():
        raise UserError(f"channel 'validation' is configured but its folder {validation_dir} is missing")
    train_frame = read_channel(train_dir, TRAIN_CHANNEL)
    validation_frame = read_channel(validation_dir, VALIDATION_CHANNEL) if validation_dir.is_dir() else None
    if train_frame["Survived"].nunique() < 2:
        raise UserError(
            "channel 'train' has only one class in 'Survived': a classifier needs survivors and not"
        )
    if hp["cv_folds"] > 0:
        check_cv_folds(train_frame["Survived"].to_numpy(dtype=int), int(hp["cv_folds"]))
    data_sha256 = {TRAIN_CHANNEL: _channel_hashes(train_dir)}
    data_sha256[VALIDATION_CHANNEL] = _channel_hashes(validation_dir) if validation_frame is not None else {}
    rows = {
        TRAIN_CHANNEL: len(train_frame),
        VALIDATION_CHANNEL: 0 if validation_frame is None else len(validation_frame),
    }
    log(f"data: {rows['train']} train rows, {rows['validation']} validation rows")

    run_fingerprint = fingerprint(hp, data_sha256)
    checkpoint = None
    if hp["checkpoint_every"] > 0:
        checkpoint = load_checkpoint(paths.checkpoint_dir, run_fingerprint, log)
    else:
        log("checkpointing off (checkpoint_every=0)")
    stop.check("before training")

    started = time.perf_counter()
    callbacks = [
        _progress_callback(int(hp["n_estimators"])),
        boosting_callback(
            stop=stop,
            directory=paths.checkpoint_dir,
            every=int(hp["checkpoint_every"]),
            total_rounds=int(hp["n_estimators"]),
            run_fingerprint=run_fingerprint,
            round_delay_seconds=float(hp["round_delay_seconds"]),
            print_fn=log,
        ),
    ]
    fitted = fit_model(
        train_frame,
        hp,
        validation=validation_frame,
        callbacks=callbacks,
        init_model=None if checkpoint is None else checkpoint.booster,
        resumed_rounds=0 if checkpoint is None else checkpoint.rounds,
    )
    log(
        f"fit: {fitted.best_iteration} rounds"
        + (" (early stopping on validation log loss)" if fitted.early_stopped else "")
        + (f", resumed after {fitted.resumed_rounds}" if fitted.resumed_rounds else "")
    )
    stop.check("after the final fit, before cross-validation")

    validation_scores = None
    if validation_frame is not None:
        validation_scores = evaluate(
            validation_frame["Survived"].to_numpy(), predict_proba(fitted.pipeline, validation_frame)
        )
        log(f"validation: accuracy {validation_scores['accuracy']:.4f}")
    cv_scores = None
    if hp["cv_folds"] > 0:
        log(f"cross-validation: {hp['cv_folds']} stratified folds on the train channel")
        cv_scores = cross_validate(
            train_frame,
            hp,
            rounds=fitted.best_iteration if fitted.early_stopped else None,
            between_folds=lambda fold: stop.check(f"before CV fold {fold + 1}"),
        )
    training_seconds = time.perf_counter() - started

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(paths.model_file, lambda handle: joblib.dump(fitted.pipeline, handle), binary=True)
    model_sha256 = _sha256(paths.model_file)
    document = {
        "schema_version": METRICS_SCHEMA_VERSION,
        "validation": validation_scores,
        "cv": cv_scores,
        "feature_importance": feature_importance(fitted.pipeline),
        "hyperparameters": hp,
        "rows": rows,
        "data_sha256": data_sha256,
        "versions": _versions(),
        "training_seconds": round(training_seconds, 4),
        "best_iteration": int(fitted.best_iteration),
        "model_sha256": model_sha256,
        "resumed_from_checkpoint": checkpoint is not None,
    }
    _atomic_write(
        paths.metrics_file,
        lambda handle: handle.write(json.dumps(document, indent=2, allow_nan=False)),
        binary=False,
    )
    log(f"wrote {paths.model_file} (sha256 {model_sha256[:12]}...) and {paths.metrics_file}")
    print_metrics(metric_lines(validation_scores, cv_scores, fitted.best_iteration, training_seconds))
    return document


# ---------------------------------------------------------------------------------------------
# configuration files


def _read_json_object(path: Path, what: str, *, required: bool) -> dict[str, Any]:
    from container.errors import UserError

    if not path.is_file():
        if required:
            raise UserError(f"missing {what} file {path}")
        log(f"no {path.name}: using defaults")
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UserError(f"{path.name} must hold a JSON object, not {type(value).__name__}")
    return value


def _check_resources(paths: Paths) -> None:
    from container.errors import UserError

    if not paths.resource_config_file.is_file():
        log("no resourceconfig.json: running as a single host")
        return
    config = _read_json_object(paths.resource_config_file, "resource config", required=True)
    hosts = config.get("hosts") or []
    log(f"host {config.get('current_host', '?')} of {', '.join(map(str, hosts)) or '?'}")
    if len(hosts) > 1:
        raise UserError(
            f"this trainer runs on one instance but the job has {len(hosts)} hosts ({', '.join(hosts)}); "
            "set instance_count=1"
        )


def _check_input_config(paths: Paths) -> Mapping[str, Any]:
    """Channel name -> config from inputdataconfig.json (empty when absent); CSV content only."""
    from container.contract import CHANNELS, TRAIN_CHANNEL
    from container.errors import UserError

    if not paths.input_data_config_file.is_file():
        log("no inputdataconfig.json: reading channel folders as they are")
        return {}
    config = _read_json_object(paths.input_data_config_file, "input data config", required=True)
    unknown = sorted(set(config) - set(CHANNELS))
    if unknown:
        raise UserError(f"unexpected channel {', '.join(unknown)} (this trainer reads {', '.join(CHANNELS)})")
    if TRAIN_CHANNEL not in config:
        raise UserError(
            f"missing required channel 'train' (input data config has {', '.join(config) or 'none'})"
        )
    for channel, channel_config in config.items():
        content_type = (channel_config or {}).get("ContentType") if isinstance(channel_config, dict) else None
        if content_type and content_type.split(";")[0].strip().lower() not in CSV_CONTENT_TYPES:
            raise UserError(
                f"channel {channel!r} has content type {content_type!r}; this trainer reads text/csv"
            )
        log(f"channel {channel}: content type {content_type or 'not given'}")
    return config


# ---------------------------------------------------------------------------------------------
# outputs


def _channel_hashes(directory: Path) -> dict[str, str]:
    return {path.name: _sha256(path) for path in sorted(directory.iterdir()) if path.suffix.lower() == ".csv"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write(target: Path, write: Any, *, binary: bool) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if binary:
        with open(temporary, "wb") as binary_handle:
            write(binary_handle)
    else:
        with open(temporary, "w", encoding="utf-8") as text_handle:
            write(text_handle)
    os.replace(temporary, target)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for library in VERSIONED_LIBRARIES:
        versions[library] = metadata.version(library)
    return versions


def _progress_callback(total_rounds: int) -> Any:
    def callback(env: Any) -> None:
        rounds = int(env.iteration) + 1
        if rounds % PROGRESS_EVERY_ROUNDS == 0 or rounds == total_rounds:
            scores = ", ".join(
                f"{data} {name} {value:.4f}" for data, name, value, *_ in env.evaluation_result_list or []
            )
            log(f"round {rounds}/{total_rounds}" + (f": {scores}" if scores else ""))

    callback.order = 50  # type: ignore[attr-defined]  # after checkpointing, so a stop logs nothing extra
    return callback


if __name__ == "__main__":
    sys.exit(main())
