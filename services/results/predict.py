"""``titanic-sm predict``: a trained model + a passenger CSV -> Kaggle's submission file.

The model is a job's ``model.tar.gz`` or a folder holding its files and ``metrics.json``.

* The text format (``model.txt``, LightGBM's own, + ``features.json``, the feature step's state)
  is parsed, never unpickled: a crafted file can make wrong predictions but cannot run code, so
  it needs no trust. Every artifact this project trains has it, and it is used whenever present.
* ``model.joblib`` alone (artifacts made before the text format): unpickling runs code, so before
  ``joblib.load`` sees a byte the model needs trust from outside the archive: either its sha256 is
  one the job store recorded when a job of this project verified its artifact from the job's own
  output path (``artifacts.record_trusted_model``), or the user passed ``--trust`` and was warned.

``metrics.json``'s hashes travel with the archive, so they only catch accidents, never an
attacker. An archive is never extracted to disk: the members are read into memory (once each: a
doubled member is refused) after every path and type is checked.
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

from container.contract import FEATURES_FILE, METRICS_FILE, MODEL_FILE, MODEL_TEXT_FILE
from container.model import TextModelError, load_text_model, predict_proba
from services.data import dataset
from services.errors import UserError

if TYPE_CHECKING:
    from services.jobs.store import JobStore

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
    "--trust: a model.joblib without a job store record is unpickled, which runs any code it holds, "
    "so use --trust only for a file whose source you trust (a model with model.txt + features.json "
    "needs no --trust: nothing is unpickled)"
)
# Who vouches for a model in the text format: nobody needs to, nothing in it can run.
TEXT_FORMAT_TRUST = "its text format (model.txt + features.json: nothing unpickled)"
_TEXT_FILES = (MODEL_TEXT_FILE, FEATURES_FILE)
_MEMBERS = (METRICS_FILE, *_TEXT_FILES, MODEL_FILE)


class ModelError(UserError, ValueError):
    """The model cannot be used (missing, tampered, unsafe archive); the message is one line."""


@dataclass(frozen=True)
class LoadedModel:
    pipeline: Any
    metrics: dict[str, Any]
    model_sha256: str
    source: Path
    # "job <name>" (the job store's record), "--trust", or TEXT_FORMAT_TRUST
    trusted_by: str


@dataclass(frozen=True)
class Prediction:
    output: Path
    rows: int
    survivors: int
    trusted_by: str


def load_model(path: str | Path, *, store: JobStore | None = None, trust: bool = False) -> LoadedModel:
    """A verified model from a ``model.tar.gz`` or a model folder.

    The text format when the model has it (nothing is unpickled). Otherwise ``model.joblib``,
    whose sha256 must be recorded in ``store`` by a job of this project (or ``trust`` given);
    anything else is refused before it is unpickled.
    """
    source = Path(path)
    if not source.exists():
        raise ModelError(f"model {source} does not exist", code="model.missing", values={"path": str(source)})
    members = _read_folder(source) if source.is_dir() else _read_archive(source)
    metrics = _parse_metrics(members[METRICS_FILE], source)
    if all(name in members for name in _TEXT_FILES):
        return _load_text(source, members, metrics)
    if MODEL_FILE not in members:
        raise ModelError(
            f"{source} has no {MODEL_TEXT_FILE} + {FEATURES_FILE} (nor an older {MODEL_FILE}); "
            "it is not a model this project trained",
            code="model.not_ours",
            values={"path": str(source)},
        )
    model_bytes = members[MODEL_FILE]
    expected = metrics.get("model_sha256")
    if not isinstance(expected, str) or not expected:
        raise ModelError(
            f"{source}: {METRICS_FILE} has no model_sha256, so {MODEL_FILE} cannot be verified",
            code="model.no_sha256",
            values={"path": str(source)},
        )
    actual = hashlib.sha256(model_bytes).hexdigest()
    if actual != expected.lower():
        raise ModelError(
            f"{source}: {MODEL_FILE} sha256 {actual[:12]}… does not match {METRICS_FILE} "
            f"({expected[:12]}…); refusing to load a modified model",
            code="model.sha256_differs",
            values={"path": str(source), "actual": actual[:12], "expected": expected[:12]},
        )
    trusted_by = "--trust" if trust else _recorded_job(source, actual, store)
    try:
        pipeline = joblib.load(io.BytesIO(model_bytes))
    except Exception as exc:  # a trusted file that still fails to load: versions differ
        raise ModelError(
            f"{source}: {MODEL_FILE} cannot be loaded: {type(exc).__name__}: {exc}",
            code="model.cannot_load",
            values={"path": str(source), "kind": type(exc).__name__, "cause": str(exc)},
        ) from None
    if not hasattr(pipeline, "predict_proba"):
        raise ModelError(
            f"{source}: {MODEL_FILE} holds a {type(pipeline).__name__}, not a classifier",
            code="model.not_classifier",
            values={"path": str(source), "kind": type(pipeline).__name__},
        )
    return LoadedModel(
        pipeline=pipeline, metrics=metrics, model_sha256=actual, source=source, trusted_by=trusted_by
    )


def _load_text(source: Path, members: dict[str, bytes], metrics: dict[str, Any]) -> LoadedModel:
    """The text format, checked against metrics.json's hashes (accidents: a cut or mixed-up file)."""
    expected = metrics.get("model_files_sha256")
    if not isinstance(expected, dict):
        raise ModelError(
            f"{source}: {METRICS_FILE} has no model_files_sha256, so {MODEL_TEXT_FILE} cannot be verified",
            code="model.no_files_sha256",
            values={"path": str(source)},
        )
    for name in _TEXT_FILES:
        actual = hashlib.sha256(members[name]).hexdigest()
        if actual != str(expected.get(name, "")).lower():
            raise ModelError(
                f"{source}: {name} sha256 {actual[:12]}… does not match {METRICS_FILE}; "
                "refusing to load a modified model",
                code="model.file_sha256_differs",
                values={"path": str(source), "file": name, "actual": actual[:12]},
            )
    try:
        model = load_text_model(members[MODEL_TEXT_FILE], members[FEATURES_FILE])
    except TextModelError as exc:
        raise ModelError(f"{source}: {exc}") from None
    return LoadedModel(
        pipeline=model,
        metrics=metrics,
        model_sha256=hashlib.sha256(members[MODEL_TEXT_FILE]).hexdigest(),
        source=source,
        trusted_by=TEXT_FORMAT_TRUST,
    )


def _recorded_job(source: Path, sha256: str, store: JobStore | None) -> str:
    """``job <name>`` when the store recorded this model; otherwise the one-line refusal."""
    job = store.find_by_model_sha256(sha256) if store is not None else None
    if job is None:
        if store is None:
            raise ModelError(
                f"{source}: {MODEL_FILE} (sha256 {sha256[:12]}…) was not trained and recorded by this "
                "project (no job store has no job with it); it is not unpickled, because that runs its "
                "code: pass --trust only if you trust its source",
                code="model.not_recorded_no_store",
                values={"path": str(source), "sha256": sha256[:12]},
            )
        raise ModelError(
            f"{source}: {MODEL_FILE} (sha256 {sha256[:12]}…) was not trained and recorded by this "
            f"project (the job store {store.path} has no job with it); it is not unpickled, because "
            "that runs its code: pass --trust only if you trust its source",
            code="model.not_recorded",
            values={"path": str(source), "sha256": sha256[:12], "store": str(store.path)},
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
        raise ModelError(
            f"--output {target} is the input file; choose another path",
            code="model.output_is_input",
            values={"path": str(target)},
        )
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


def _read_folder(folder: Path) -> dict[str, bytes]:
    """The model files a folder holds (metrics.json required)."""
    if not (folder / METRICS_FILE).is_file():
        raise ModelError(
            f"model folder {folder} has no {METRICS_FILE}",
            code="model.folder_no_metrics",
            values={"path": str(folder)},
        )
    found: dict[str, bytes] = {}
    for name in _MEMBERS:
        path = folder / name
        if path.is_file():
            if path.stat().st_size > MAX_MEMBER_BYTES:
                size = path.stat().st_size
                raise ModelError(
                    f"{path} is {size} bytes, over the limit",
                    code="model.file_too_big",
                    values={"path": str(path), "size": size},
                )
            found[name] = path.read_bytes()
    return found


def _read_archive(archive: Path) -> dict[str, bytes]:
    """The model files at the archive's top level (metrics.json required), by name."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            wanted: dict[str, tarfile.TarInfo] = {}
            seen: set[str] = set()
            for member in members:
                name = _safe_member_name(member, archive)
                if name in seen:
                    raise ModelError(
                        f"{archive}: {name} appears twice in the archive; refusing it",
                        code="model.member_twice",
                        values={"path": str(archive), "member": name},
                    )
                if name:
                    seen.add(name)
                if name in _MEMBERS:
                    if not member.isfile():
                        raise ModelError(
                            f"{archive}: {member.name} is not a regular file",
                            code="model.member_not_file",
                            values={"path": str(archive), "member": member.name},
                        )
                    if member.size > MAX_MEMBER_BYTES:
                        raise ModelError(
                            f"{archive}: {member.name} is {member.size} bytes, over the limit",
                            code="model.member_too_big",
                            values={"path": str(archive), "member": member.name, "size": member.size},
                        )
                    wanted[name] = member
            if METRICS_FILE not in wanted:
                raise ModelError(
                    f"{archive} has no {METRICS_FILE} at its top level",
                    code="model.archive_no_metrics",
                    values={"path": str(archive)},
                )
            return {name: _member_bytes(tar, member) for name, member in wanted.items()}
    except tarfile.ReadError:  # tarfile's message lists every compression it tried, over lines
        raise ModelError(
            f"{archive} is not a model.tar.gz or model folder (not a tar archive)",
            code="model.not_tar",
            values={"path": str(archive)},
        ) from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:  # EOFError: a cut-off download
        cause = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(
            f"{archive} is not a model.tar.gz or model folder (damaged: {cause})",
            code="model.damaged",
            values={"path": str(archive), "cause": cause},
        ) from None


def _safe_member_name(member: tarfile.TarInfo, archive: Path) -> str:
    """The member's top-level name; absolute or parent-escaping paths make the archive unsafe."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or "\\" in member.name:
        raise ModelError(
            f"{archive}: unsafe path {member.name!r} in the archive; refusing it",
            code="model.unsafe_path",
            values={"path": str(archive), "member": member.name},
        )
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or ".." in target.parts:
            raise ModelError(
                f"{archive}: link {member.name!r} points outside the archive; refusing it",
                code="model.link_outside",
                values={"path": str(archive), "member": member.name},
            )
    parts = [p for p in path.parts if p != "."]
    return parts[0] if len(parts) == 1 else ""


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise ModelError(
            f"{member.name} cannot be read from the archive",
            code="model.member_unreadable",
            values={"member": member.name},
        )
    with handle:
        return handle.read()


def _parse_metrics(content: bytes, source: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(content)
    except ValueError as exc:
        raise ModelError(
            f"{source}: {METRICS_FILE} is not valid JSON ({exc})",
            code="model.metrics_not_json",
            values={"path": str(source), "cause": str(exc)},
        ) from None
    if not isinstance(metrics, dict):
        raise ModelError(
            f"{source}: {METRICS_FILE} is not a JSON object",
            code="model.metrics_not_object",
            values={"path": str(source)},
        )
    version = metrics.get("schema_version")
    if version != SUPPORTED_METRICS_SCHEMA:
        raise ModelError(
            f"{source}: {METRICS_FILE} schema_version {version!r} is not {SUPPORTED_METRICS_SCHEMA}; "
            "retrain or upgrade titanic-sm",
            code="model.metrics_schema",
            values={"path": str(source), "version": repr(version)},
        )
    return metrics
