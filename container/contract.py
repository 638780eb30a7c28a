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

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_DIR_ENV",
    "CHANNELS",
    "CSV_FILE_CHANNEL",
    "CURRENT_HOST",
    "DEFAULT_BASE_DIR",
    "FAILURE_REASON_LIMIT",
    "MAX_RUNTIME_LIMIT_SECONDS",
    "METRICS_FILE",
    "MODEL_FILE",
    "OPTIONAL_CHANNELS",
    "REQUIRED_CHANNELS",
    "Paths",
    "resource_config",
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
# The one host of a single-instance job, as SageMaker names it.
CURRENT_HOST = "algo-1"
# What SageMaker writes in inputdataconfig.json for a File-mode CSV channel.
CSV_FILE_CHANNEL: Mapping[str, str] = {
    "ContentType": "text/csv",
    "TrainingInputMode": "File",
    "S3DistributionType": "FullyReplicated",
    "RecordWrapperType": "None",
}


def resource_config(instance_type: str | None = None) -> dict[str, Any]:
    """resourceconfig.json of a single-host job (with its instance group when the type is known)."""
    config: dict[str, Any] = {
        "current_host": CURRENT_HOST,
        "hosts": [CURRENT_HOST],
        "network_interface_name": "eth0",
    }
    if instance_type is not None:
        config |= {
            "current_instance_type": instance_type,
            "current_group_name": "homogeneousCluster",
            "instance_groups": [
                {
                    "instance_group_name": "homogeneousCluster",
                    "instance_type": instance_type,
                    "hosts": [CURRENT_HOST],
                }
            ],
        }
    return config


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

    def write_input_config(
        self,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, Mapping[str, str]],
        resource: Mapping[str, Any],
    ) -> None:
        """Lay out what SageMaker writes before the container starts: the three config files
        (hyperparameters as strings, as the SDK sends them) and the empty folders the trainer
        writes to. The one tree writer of train-here, the capacity probe and the control plane."""
        for folder in (
            self.config_dir,
            self.data_dir,
            self.model_dir,
            self.output_data_dir,
            self.checkpoint_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        files = {
            self.hyperparameters_file: {key: str(value) for key, value in hyperparameters.items()},
            self.input_data_config_file: {name: dict(config) for name, config in channels.items()},
            self.resource_config_file: dict(resource),
        }
        for path, content in files.items():
            path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
