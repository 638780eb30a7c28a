"""``titanic-sm train-here``: run the in-container trainer on this host, over a temporary /opt/ml tree.

The tree is laid out with ``container.contract.Paths`` exactly as SageMaker lays it out (string
hyperparameters, inputdataconfig.json, resourceconfig.json, one folder per channel), and the
trainer runs as a child process ``python -m container.train train`` with SAGEMAKER_BASE_DIR set,
so this exercises the same entry point, files and exit codes as a job, without Docker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container import contract
from container.contract import METRICS_FILE, MODEL_FILE, TRAIN_CHANNEL, TRAIN_VERB, VALIDATION_CHANNEL, Paths
from services.errors import UserError

__all__ = [
    "CURRENT_HOST",
    "ArgumentError",
    "TrainHereError",
    "TrainHereResult",
    "lay_out_tree",
    "parse_hp_pairs",
    "train_here",
]

CURRENT_HOST = contract.CURRENT_HOST
TRAINER_MODULE = "container.train"


class ArgumentError(UserError, ValueError):
    """A malformed ``--hp`` pair, or an input path that is not there; the message names it."""


class TrainHereError(UserError, RuntimeError):
    """Training on the host failed; the message is one line and ``exit_code`` the trainer's."""

    def __init__(
        self,
        message: str,
        exit_code: int = 1,
        *,
        code: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, values=values)
        self.exit_code = exit_code


@dataclass(frozen=True)
class TrainHereResult:
    model_dir: Path
    metrics: dict[str, Any]

    @property
    def model_file(self) -> Path:
        return self.model_dir / MODEL_FILE

    @property
    def metrics_file(self) -> Path:
        return self.model_dir / METRICS_FILE

    @property
    def summary(self) -> str:
        """E.g. "validation accuracy 0.8473, roc_auc 0.9012", or the CV means without validation."""
        for scope in ("validation", "cv"):
            scores = self.metrics.get(scope)
            if not isinstance(scores, dict):
                continue
            parts = []
            for name in ("accuracy", "roc_auc"):
                value = scores.get(name)
                value = value.get("mean") if isinstance(value, dict) else value
                if isinstance(value, int | float):
                    parts.append(f"{name} {value:.4f}")
            if parts:
                return f"{scope} " + ", ".join(parts)
        return ""


def parse_hp_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["max_depth=4", ...]`` -> ``{"max_depth": "4"}``; values stay strings, as SageMaker sends them.

    Types and ranges are checked by the trainer (container.hyperparameters), the one schema.
    """
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ArgumentError(
                f"--hp {pair!r} is not KEY=VALUE", code="train_here.bad_pair", values={"pair": repr(pair)}
            )
        if key in values:
            raise ArgumentError(
                f"--hp {key} is given twice ({values[key]!r} and {value!r})",
                code="train_here.pair_twice",
                values={"key": key, "first": repr(values[key]), "second": repr(value)},
            )
        values[key] = value
    return values


def lay_out_tree(
    base: Path,
    train: Path,
    validation: Path | None = None,
    hyperparameters: Mapping[str, str] | None = None,
) -> Paths:
    """Write the SageMaker input tree under ``base``: config files and the channel folders.

    ``train``/``validation`` are a CSV file or a folder of CSV files (copied, never linked, so
    the trainer cannot touch the originals).
    """
    paths = Paths(Path(base))
    channels = {TRAIN_CHANNEL: Path(train)}
    if validation is not None:
        channels[VALIDATION_CHANNEL] = Path(validation)
    for channel, source in channels.items():
        _copy_channel(channel, source, paths.channel_dir(channel))
    paths.write_input_config(
        hyperparameters or {},
        {channel: contract.CSV_FILE_CHANNEL for channel in channels},
        contract.resource_config(),
    )
    return paths


def train_here(
    train: Path,
    model_dir: Path,
    validation: Path | None = None,
    hyperparameters: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> TrainHereResult:
    """Train in a temporary tree, streaming the trainer's output lines to ``echo``.

    On success ``model.joblib`` and ``metrics.json`` are copied into ``model_dir``. On failure
    raises :class:`TrainHereError` carrying the failure file's reason and the exit code.
    """
    write = echo if echo is not None else _print_line
    with tempfile.TemporaryDirectory(prefix="titanic-train-here-") as temp:
        paths = lay_out_tree(Path(temp) / "ml", train, validation, hyperparameters)
        exit_code = _run_trainer(paths, write)
        failure = _read_failure(paths)
        if exit_code != 0 or failure is not None:
            if failure is None:
                raise TrainHereError(
                    f"the trainer exited with code {exit_code} and wrote no failure file",
                    exit_code,
                    code="train_here.no_failure_file",
                    values={"exit_code": exit_code},
                )
            raise TrainHereError(failure, exit_code or 1)
        for produced in (paths.model_file, paths.metrics_file):
            if not produced.is_file():
                raise TrainHereError(
                    f"the trainer exited 0 but wrote no {produced.name}",
                    2,
                    code="train_here.no_output",
                    values={"file": produced.name},
                )
        destination = Path(model_dir)
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths.model_file, destination / MODEL_FILE)
        shutil.copyfile(paths.metrics_file, destination / METRICS_FILE)
    metrics = json.loads((destination / METRICS_FILE).read_text())
    return TrainHereResult(model_dir=destination, metrics=metrics)


def _copy_channel(channel: str, source: Path, target: Path) -> None:
    from services.data.dataset import check_csv_size  # the one CSV size limit

    if not source.exists():
        raise ArgumentError(
            f"--{channel}: {source} does not exist",
            code="train_here.no_source",
            values={"channel": channel, "path": str(source)},
        )
    if source.is_file():
        check_csv_size(source)
        target.mkdir(parents=True, exist_ok=True)
        # Keep the name, but give it a .csv suffix: the trainer reads *.csv from a channel.
        name = source.name if source.suffix.lower() == ".csv" else f"{source.name}.csv"
        shutil.copyfile(source, target / name)
        return
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise ArgumentError(
            f"--{channel}: folder {source} holds no CSV files",
            code="train_here.no_csv",
            values={"channel": channel, "path": str(source)},
        )
    for file in files:
        check_csv_size(file, f"{source.name}/{file.name}")
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copyfile(file, target / file.name)


def _trainer_env(paths: Paths) -> dict[str, str]:
    env = dict(os.environ)
    env["SAGEMAKER_BASE_DIR"] = str(paths.base)
    env["PYTHONUNBUFFERED"] = "1"  # lines arrive as they are printed, not at exit
    # The folder holding the `container` package, so the child imports this checkout's trainer.
    # (contract.__file__, not container.__file__: under pytest, tests/container can shadow the
    # package as a namespace package without a __file__.)
    package_root = str(Path(contract.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def _run_trainer(paths: Paths, write: Callable[[str], None]) -> int:
    command = [sys.executable, "-m", TRAINER_MODULE, TRAIN_VERB]
    process = subprocess.Popen(
        command,
        env=_trainer_env(paths),
        cwd=paths.base,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            write(line.rstrip("\n"))
        return process.wait()
    finally:
        if process.poll() is None:  # interrupted while streaming: do not leave the trainer behind
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _read_failure(paths: Paths) -> str | None:
    if not paths.failure_file.is_file():
        return None
    text = paths.failure_file.read_text(encoding="utf-8", errors="replace").strip()
    if not text:
        return "the trainer wrote an empty failure file"
    reason, _, details = text.partition("\n")
    # The first line is the reason; a framework error's traceback follows it and was already streamed.
    return " ".join(reason.split()) + (" (traceback above)" if details.strip() else "")


def _print_line(line: str) -> None:
    print(line, flush=True)
