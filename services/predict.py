"""``titanic-sm predict``: a trained model + a passenger CSV -> Kaggle's submission file.

The model is a job's ``model.tar.gz`` or a folder holding ``model.joblib`` and ``metrics.json``.
Unpickling runs code, so before ``joblib.load`` sees a byte the model needs trust from outside the
archive: either its sha256 is one the job store recorded when a job of this project verified its
artifact from the job's own output path (``artifacts.record_trusted_model``), or the user passed
``--trust`` and was warned. ``metrics.json``'s own ``model_sha256`` travels with the archive, so it
only catches accidents, never an attacker. An archive is never extracted to disk: the two members
are read into memory (once each: a doubled member is refused) after every path and type is checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd

from container.contract import METRICS_FILE, MODEL_FILE
from container.model import predict_proba
from services import dataset
from services.errors import UserError

if TYPE_CHECKING:
    from services.jobs import JobStore

__all__ = [
    "MAX_MEMBER_BYTES",
    "THRESHOLD",
    "TRUST_WARNING",
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
TRUST_WARNING = (
    "--trust: this model is loaded without a job store record; unpickling model.joblib runs any code "
    "it holds, so use --trust only for a file whose source you trust"
)


class ModelError(UserError, ValueError):
    """The model cannot be used (missing, tampered, unsafe archive); the message is one line."""


@dataclass(frozen=True)
class LoadedModel:
    pipeline: Any
    metrics: dict[str, Any]
    model_sha256: str
    source: Path
    trusted_by: str  # "job <name>" (the job store's record) or "--trust"


@dataclass(frozen=True)
class Prediction:
    output: Path
    rows: int
    survivors: int
    trusted_by: str


def load_model(path: str | Path, *, store: JobStore | None = None, trust: bool = False) -> LoadedModel:
    """A verified pipeline from a ``model.tar.gz`` or a model folder.

    Without ``trust``, ``model.joblib``'s sha256 must be recorded in ``store`` by a job of this
    project; anything else is refused before it is unpickled.
    """
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
    trusted_by = "--trust" if trust else _recorded_job(source, actual, store)
    try:
        pipeline = joblib.load(io.BytesIO(model_bytes))
    except Exception as exc:  # a trusted file that still fails to load: versions differ
        raise ModelError(f"{source}: {MODEL_FILE} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not hasattr(pipeline, "predict_proba"):
        raise ModelError(f"{source}: {MODEL_FILE} holds a {type(pipeline).__name__}, not a classifier")
    return LoadedModel(
        pipeline=pipeline, metrics=metrics, model_sha256=actual, source=source, trusted_by=trusted_by
    )


def _recorded_job(source: Path, sha256: str, store: JobStore | None) -> str:
    """``job <name>`` when the store recorded this model; otherwise the one-line refusal."""
    job = store.find_by_model_sha256(sha256) if store is not None else None
    if job is None:
        where = f"the job store {store.path}" if store is not None else "no job store"
        raise ModelError(
            f"{source}: {MODEL_FILE} (sha256 {sha256[:12]}…) was not trained and recorded by this "
            f"project ({where} has no job with it); it is not unpickled, because that runs its code: "
            "pass --trust only if you trust its source"
        )
    return f"job {job.job_name}"


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
    model_path: str | Path,
    input_csv: str | Path,
    output_csv: str | Path,
    proba: bool = False,
    *,
    store: JobStore | None = None,
    trust: bool = False,
) -> Prediction:
    """Read and validate ``input_csv`` (Survived optional), predict, write Kaggle's submission format.

    ``store`` and ``trust`` decide whether the model may be unpickled (see ``load_model``)."""
    source, target = Path(input_csv), Path(output_csv)
    if source.exists() and target.exists() and source.resolve() == target.resolve():
        raise ModelError(f"--output {target} is the input file; choose another path")
    content = dataset.read_csv_file(source)  # size-checked before the model is even opened
    model = load_model(model_path, store=store, trust=trust)
    frame = dataset.load_frame(content, require_label=False, name=source.name)
    result = predict_frame(model, frame, proba)
    target.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(target, index=False, lineterminator="\n")
    return Prediction(
        output=target,
        rows=len(result),
        survivors=int(result["Survived"].sum()),
        trusted_by=model.trusted_by,
    )


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
                if name in wanted:
                    raise ModelError(f"{archive}: {name} appears twice in the archive; refusing it")
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
