"""The contract between the host and the training container: the one place that names it.

SageMaker (and SDK local mode) lays out a tree under ``/opt/ml`` before it starts the image as
``docker run IMAGE train``. The trainer reads and writes only the paths below; the host side
(``services``) imports this module to lay out the same tree for ``train-here`` and to read
what a job wrote, so the two sides cannot drift.

Layout (relative to the base directory)::

    input/config/hyperparameters.json   every value a string (the SDK str()s them)
    input/config/inputdataconfig.json   channel name -> {"ContentType": ..., ...}
    input/config/resourceconfig.json    {"current_host": "algo-1", "hosts": [...]}
    input/data/<channel>/*.csv          "train" (required) and "validation" (optional)
    model/                              model.joblib + metrics.json -> model.tar.gz
    output/data/                        extra outputs -> output.tar.gz
    output/failure                      first 1024 characters become the FailureReason
    checkpoints/                        synced with checkpoint_s3_uri (spot resume)

Environment variables (documented in docs/ENVIRONMENT_VARIABLES.md):

    SAGEMAKER_BASE_DIR   overrides /opt/ml, so tests and ``train-here`` use a temp tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASE_DIR_ENV",
    "CHANNELS",
    "DEFAULT_BASE_DIR",
    "FAILURE_REASON_LIMIT",
    "MAX_RUNTIME_LIMIT_SECONDS",
    "METRICS_FILE",
    "MODEL_FILE",
    "OPTIONAL_CHANNELS",
    "REQUIRED_CHANNELS",
    "Paths",
]

DEFAULT_BASE_DIR = Path("/opt/ml")
BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"

TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"
REQUIRED_CHANNELS = (TRAIN_CHANNEL,)
OPTIONAL_CHANNELS = (VALIDATION_CHANNEL,)
CHANNELS = REQUIRED_CHANNELS + OPTIONAL_CHANNELS

MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
# SageMaker keeps only this many characters of output/failure as the job's FailureReason.
FAILURE_REASON_LIMIT = 1024
# SageMaker's ceiling on MaxRuntimeInSeconds (and MaxWaitTimeInSeconds) for a training job:
# 28 days (the API reference's StoppingCondition; botocore's model gives only the minimum, 1).
MAX_RUNTIME_LIMIT_SECONDS = 28 * 24 * 3600

# The verb SageMaker passes as argv[1]; "serve" would arrive the same way for hosting.
TRAIN_VERB = "train"


@dataclass(frozen=True)
class Paths:
    """Every path of the ``/opt/ml`` tree, rooted at ``base``."""

    base: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        return cls(Path(env.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR))

    @property
    def config_dir(self) -> Path:
        return self.base / "input" / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def input_data_config_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resource_config_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def data_dir(self) -> Path:
        return self.base / "input" / "data"

    def channel_dir(self, channel: str) -> Path:
        return self.data_dir / channel

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def model_file(self) -> Path:
        return self.model_dir / MODEL_FILE

    @property
    def metrics_file(self) -> Path:
        return self.model_dir / METRICS_FILE

    @property
    def output_data_dir(self) -> Path:
        return self.base / "output" / "data"

    @property
    def failure_file(self) -> Path:
        return self.base / "output" / "failure"

    @property
    def checkpoint_dir(self) -> Path:
        return self.base / "checkpoints"
