"""``titanic-sm predict``: a trained model + a passenger CSV -> Kaggle's submission file.

The model is a job's ``model.tar.gz`` or a folder holding ``model.joblib`` and ``metrics.json``.
Unpickling runs code, so ``model.joblib``'s sha256 is checked against ``metrics.json`` before
``joblib.load`` sees a byte, and an archive is never extracted to disk: the two members are read
into memory after every member path and type has been checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import joblib
import numpy as np
import pandas as pd

from container import data
from container.contract import METRICS_FILE, MODEL_FILE
from container.model import predict_proba

__all__ = [
    "MAX_MEMBER_BYTES",
    "THRESHOLD",
    "LoadedModel",
    "ModelError",
    "Prediction",
    "load_model",
    "predict_file",
    "predict_frame",
]

# metrics.json's confusion matrix uses the same cut-off (container.metrics.evaluate).
THRESHOLD = 0.5
# A Titanic pipeline is well under 1 MB; a far bigger member is not ours (or a decompression bomb).
MAX_MEMBER_BYTES = 256 * 1024 * 1024
SUPPORTED_METRICS_SCHEMA = 1


class ModelError(ValueError):
    """The model cannot be used (missing, tampered, unsafe archive); the message is one line."""


@dataclass(frozen=True)
class LoadedModel:
    pipeline: Any
    metrics: dict[str, Any]
    model_sha256: str
    source: Path


@dataclass(frozen=True)
class Prediction:
    output: Path
    rows: int
    survivors: int


def load_model(path: str | Path) -> LoadedModel:
    """A verified pipeline from a ``model.tar.gz`` or a model folder."""
    source = Path(path)
    if not source.exists():
        raise ModelError(f"model {source} does not exist")
    if source.is_dir():
        model_bytes = _read_member_file(source / MODEL_FILE)
        metrics_bytes = _read_member_file(source / METRICS_FILE)
    else:
        model_bytes, metrics_bytes = _read_archive(source)
    metrics = _parse_metrics(metrics_bytes, source)
    expected = metrics.get("model_sha256")
    if not isinstance(expected, str) or not expected:
        raise ModelError(f"{source}: {METRICS_FILE} has no model_sha256, so {MODEL_FILE} cannot be verified")
    actual = hashlib.sha256(model_bytes).hexdigest()
    if actual != expected.lower():
        raise ModelError(
            f"{source}: {MODEL_FILE} sha256 {actual[:12]}… does not match {METRICS_FILE} "
            f"({expected[:12]}…); refusing to load a modified model"
        )
    try:
        pipeline = joblib.load(io.BytesIO(model_bytes))
    except Exception as exc:  # a verified file that still fails to load: versions differ
        raise ModelError(f"{source}: {MODEL_FILE} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not hasattr(pipeline, "predict_proba"):
        raise ModelError(f"{source}: {MODEL_FILE} holds a {type(pipeline).__name__}, not a classifier")
    return LoadedModel(pipeline=pipeline, metrics=metrics, model_sha256=actual, source=source)


def predict_frame(model: LoadedModel, frame: pd.DataFrame, proba: bool = False) -> pd.DataFrame:
    """``PassengerId,Survived`` (+ ``Probability``) for a validated Kaggle-schema frame."""
    probability = predict_proba(model.pipeline, frame)
    result = pd.DataFrame(
        {
            "PassengerId": frame["PassengerId"].to_numpy(dtype=np.int64),
            "Survived": (probability >= THRESHOLD).astype(np.int64),
        }
    )
    if proba:
        result["Probability"] = probability.round(6)
    return result


def predict_file(
    model_path: str | Path, input_csv: str | Path, output_csv: str | Path, proba: bool = False
) -> Prediction:
    """Read and validate ``input_csv`` (Survived optional), predict, write Kaggle's submission format."""
    source, target = Path(input_csv), Path(output_csv)
    if source.exists() and target.exists() and source.resolve() == target.resolve():
        raise ModelError(f"--output {target} is the input file; choose another path")
    model = load_model(model_path)
    frame = data.load_frame(source, require_label=False)
    result = predict_frame(model, frame, proba)
    target.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(target, index=False, lineterminator="\n")
    return Prediction(output=target, rows=len(result), survivors=int(result["Survived"].sum()))


def _read_member_file(path: Path) -> bytes:
    if not path.is_file():
        raise ModelError(f"model folder {path.parent} has no {path.name}")
    return path.read_bytes()


def _read_archive(archive: Path) -> tuple[bytes, bytes]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            wanted: dict[str, tarfile.TarInfo] = {}
            for member in members:
                name = _safe_member_name(member, archive)
                if name in (MODEL_FILE, METRICS_FILE):
                    if not member.isfile():
                        raise ModelError(f"{archive}: {member.name} is not a regular file")
                    if member.size > MAX_MEMBER_BYTES:
                        raise ModelError(f"{archive}: {member.name} is {member.size} bytes, over the limit")
                    wanted[name] = member
            for name in (MODEL_FILE, METRICS_FILE):
                if name not in wanted:
                    raise ModelError(f"{archive} has no {name} at its top level")
            return _member_bytes(tar, wanted[MODEL_FILE]), _member_bytes(tar, wanted[METRICS_FILE])
    except tarfile.ReadError:  # tarfile's message lists every compression it tried, over lines
        raise ModelError(f"{archive} is not a model.tar.gz or model folder (not a tar archive)") from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:  # EOFError: a cut-off download
        cause = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"{archive} is not a model.tar.gz or model folder (damaged: {cause})") from None


def _safe_member_name(member: tarfile.TarInfo, archive: Path) -> str:
    """The member's top-level name; absolute or parent-escaping paths make the archive unsafe."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or "\\" in member.name:
        raise ModelError(f"{archive}: unsafe path {member.name!r} in the archive; refusing it")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or ".." in target.parts:
            raise ModelError(f"{archive}: link {member.name!r} points outside the archive; refusing it")
    parts = [p for p in path.parts if p != "."]
    return parts[0] if len(parts) == 1 else ""


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise ModelError(f"{member.name} cannot be read from the archive")
    with handle:
        return handle.read()


def _parse_metrics(content: bytes, source: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(content)
    except ValueError as exc:
        raise ModelError(f"{source}: {METRICS_FILE} is not valid JSON ({exc})") from None
    if not isinstance(metrics, dict):
        raise ModelError(f"{source}: {METRICS_FILE} is not a JSON object")
    version = metrics.get("schema_version")
    if version != SUPPORTED_METRICS_SCHEMA:
        raise ModelError(
            f"{source}: {METRICS_FILE} schema_version {version!r} is not {SUPPORTED_METRICS_SCHEMA}; "
            "retrain or upgrade titanic-sm"
        )
    return metrics
