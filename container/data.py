"""Titanic CSVs in, one validated Kaggle-schema frame out: the only reader of passenger data.

Two header styles are accepted, in any case: Kaggle's (``PassengerId,Survived,Pclass,...``) and
the titanic3 list (``pclass,survived,...,boat,body,home.dest``). ``boat``, ``body`` and
``home.dest`` are dropped because they leak the label. ``?`` and empty cells are missing values.

Every failure is a :class:`DataError` whose message is one line naming the file, the cause and,
where it applies, the column and the CSV line, so it can go straight into ``output/failure``
or onto a terminal.

Flow: ``read_csv`` (text -> raw string frame, index = CSV line) -> ``normalise`` (headers, missing
values, PassengerId) -> ``validate`` (types and ranges). ``load_frame`` and ``read_channel`` chain them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

__all__ = [
    "KAGGLE_COLUMNS",
    "LABEL",
    "LEAK_COLUMNS",
    "MISSING_MARKERS",
    "DataError",
    "extra_columns",
    "leak_columns",
    "load_frame",
    "normalise",
    "read_channel",
    "read_csv",
    "validate",
]

LABEL = "Survived"
KAGGLE_COLUMNS = (
    "PassengerId",
    LABEL,
    "Pclass",
    "Name",
    "Sex",
    "Age",
    "SibSp",
    "Parch",
    "Ticket",
    "Fare",
    "Cabin",
    "Embarked",
)
# titanic3 columns recorded after the sinking: "has a boat" alone scores 0.976 accuracy.
LEAK_COLUMNS = ("boat", "body", "home.dest")
# "?" is titanic3's marker; the others are what spreadsheets and pandas write for a blank.
MISSING_MARKERS = frozenset({"", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})

SEXES = ("female", "male")
PORTS = ("C", "Q", "S")  # Cherbourg, Queenstown, Southampton
# The line index name marks a frame whose index is the 1-based CSV line of each row.
LINE_INDEX = "line"
# attrs key: True when normalise() generated PassengerId (read_channel renumbers across files).
GENERATED_IDS = "passenger_id_generated"
SOURCE = "source"

_CANONICAL = {name.lower(): name for name in KAGGLE_COLUMNS}
_SNIFF_BYTES = 4096


class DataError(ValueError):
    """The user's data is unusable; the message is one line naming the file, cause, column and line.

    ``code`` names the case and ``values`` holds its facts (file, column, line, value...), so the
    host can word the same error in the reader's language; the container itself speaks English.
    """

    def __init__(self, message: str, *, code: str = "", values: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.values: dict[str, Any] = dict(values or {})


def _at(where: str, name: str = "line") -> dict[str, int]:
    """``{"line": 4}`` for "line 4" (a CSV line); ``{"row": 2}`` for "row 2" (a frame's row)."""
    kind, number = where.split()
    return {name if kind == "line" else name.replace("line", "row"): int(number)}


CsvSource = str | PathLike[str] | bytes | IO[bytes] | IO[str]


def read_csv(path_or_buffer: CsvSource, name: str | None = None) -> pd.DataFrame:
    """Read a CSV as strings, the index being each row's 1-based line in the file.

    ``name`` labels the file in error messages (default: the path's name, or "upload").
    Rejects empty files, binary/HTML/JSON content, a header that is not comma-separated,
    duplicate column names and rows whose field count differs from the header's.
    """
    label = name or _default_name(path_or_buffer)
    text = _decode(_read_bytes(path_or_buffer, label), label)
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{label}: the file is empty", code="data.empty_file", values={"file": label})
    if stripped[0] == "<":
        raise DataError(
            f"{label}: not a CSV file (it looks like HTML or XML)", code="data.html", values={"file": label}
        )
    if stripped[0] in "{[":
        raise DataError(
            f"{label}: not a CSV file (it looks like JSON)", code="data.json", values={"file": label}
        )

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):  # leading blank lines
            header = next(reader, None)
        if header is None:
            raise DataError(
                f"{label}: the file has no header, only empty fields",
                code="data.no_header",
                values={"file": label},
            )
        header = [cell.strip() for cell in header]
        if len(header) < 2:
            hint, separators = _separator_hint(header[0])
            raise DataError(
                f"{label}: not a CSV file (the first line is not a comma-separated header{hint})",
                code="data.wrong_separator" if separators else "data.not_comma_separated",
                values={"file": label, "separators": separators},
            )
        _reject_duplicate_columns(header, label)
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank lines and all-empty rows (",,,") that spreadsheets append
            if len(row) != len(header):
                raise DataError(
                    f"{label}: line {reader.line_num} has {len(row)} fields but the header has {len(header)}",
                    code="data.field_count",
                    values={
                        "file": label,
                        "line": reader.line_num,
                        "fields": len(row),
                        "expected": len(header),
                    },
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(
            f"{label}: not a valid CSV file (line {reader.line_num}: {exc})",
            code="data.invalid_csv",
            values={"file": label, "line": reader.line_num, "detail": str(exc)},
        ) from None
    if not rows:
        raise DataError(
            f"{label}: the file has a header but no data rows", code="data.no_rows", values={"file": label}
        )
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name=LINE_INDEX), dtype=object)
    frame.attrs[SOURCE] = label
    return frame


def leak_columns(columns: Iterable[object]) -> list[str]:
    """The header's titanic3 columns that leak the label (``boat``, ``body``, ``home.dest``), as written."""
    return [str(c) for c in columns if str(c).strip().lower() in LEAK_COLUMNS]


def extra_columns(columns: Iterable[object]) -> list[str]:
    """The header's columns that are neither Kaggle's or titanic3's nor a leaking one, as written.

    The trainer refuses them (``normalise``); the host drops them, saying so, before validating.
    """
    return [
        str(c)
        for c in columns
        if str(c).strip().lower() not in LEAK_COLUMNS and str(c).strip().lower() not in _CANONICAL
    ]


def normalise(raw: pd.DataFrame) -> pd.DataFrame:
    """Map titanic3 or Kaggle headers (any case) onto Kaggle's schema, as strings with NaN for missing.

    Drops the leaking titanic3 columns, turns ``?``/empty cells into NaN and generates
    PassengerId 1..n when the column is absent. Unknown columns are an error, not silently dropped.
    """
    label = raw.attrs.get(SOURCE, "data")
    renames: dict[str, str] = {}
    leaks: list[str] = []
    unknown: list[str] = []
    seen: dict[str, str] = {}
    for column in raw.columns:
        key = str(column).strip().lower()
        if key in LEAK_COLUMNS:
            leaks.append(column)
            continue
        canonical = _CANONICAL.get(key)
        if canonical is None:
            unknown.append(str(column))
            continue
        if canonical in seen:
            raise DataError(
                f"{label}: columns {seen[canonical]!r} and {column!r} are the same column",
                code="data.same_column",
                values={"file": label, "first": seen[canonical], "second": str(column)},
            )
        seen[canonical] = str(column)
        renames[column] = canonical
    if "" in unknown:
        raise DataError(
            f"{label}: a column has no name (a saved index? write the CSV without it)",
            code="data.unnamed_column",
            values={"file": label},
        )
    if unknown:
        raise DataError(
            f"{label}: unexpected column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(c) for c in unknown)} (expected Kaggle or titanic3 headers: "
            f"{', '.join(KAGGLE_COLUMNS)})",
            code="data.unexpected_columns",
            values={
                "file": label,
                "s": "s" if len(unknown) > 1 else "",
                "columns": ", ".join(repr(c) for c in unknown),
                "expected": ", ".join(KAGGLE_COLUMNS),
            },
        )
    frame = raw.drop(columns=leaks).rename(columns=renames)
    frame = frame.map(_blank_to_nan)
    generated = "PassengerId" not in frame.columns
    if generated:
        frame.insert(0, "PassengerId", [str(i) for i in range(1, len(frame) + 1)])
    ordered = [c for c in KAGGLE_COLUMNS if c in frame.columns]
    frame = frame[ordered].copy()
    frame.attrs[SOURCE] = label
    frame.attrs[GENERATED_IDS] = generated
    return frame


def validate(df: pd.DataFrame, require_label: bool = True, *, name: str | None = None) -> pd.DataFrame:
    """Check a normalised frame and return it typed, in KAGGLE_COLUMNS order, with a fresh index.

    Types out: PassengerId, Survived, Pclass, SibSp, Parch int64; Age, Fare float64 (NaN allowed);
    Name, Sex, Ticket, Cabin, Embarked strings (Ticket, Cabin, Embarked may be missing).
    With ``require_label=False`` Survived may be absent (Kaggle's test.csv).
    """
    label = name or df.attrs.get(SOURCE, "data")
    required = [c for c in KAGGLE_COLUMNS if c != LABEL or require_label]
    missing = [c for c in required if c not in df.columns]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise DataError(
            f"{label}: missing column{plural} {', '.join(repr(c) for c in missing)}",
            code="data.missing_columns",
            values={"file": label, "s": plural, "columns": ", ".join(repr(c) for c in missing)},
        )
    if df.empty:
        raise DataError(
            f"{label}: the file has a header but no data rows", code="data.no_rows", values={"file": label}
        )

    def where(position: int) -> str:
        if df.index.name == LINE_INDEX:
            return f"line {df.index[position]}"
        return f"row {position + 1}"

    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    out["PassengerId"] = _whole_numbers(df["PassengerId"], "PassengerId", label, where, minimum=0)
    if LABEL in df.columns:
        out[LABEL] = _label(df[LABEL], label, where, required=require_label)
    out["Pclass"] = _whole_numbers(df["Pclass"], "Pclass", label, where, minimum=1, maximum=3)
    out["Name"] = _text(df["Name"], "Name", label, where, required=True)
    out["Sex"] = _choice(df["Sex"], "Sex", SEXES, str.lower, label, where, required=True)
    out["Age"] = _real_numbers(df["Age"], "Age", label, where)
    out["SibSp"] = _whole_numbers(df["SibSp"], "SibSp", label, where, minimum=0)
    out["Parch"] = _whole_numbers(df["Parch"], "Parch", label, where, minimum=0)
    out["Ticket"] = _text(df["Ticket"], "Ticket", label, where, required=False)
    out["Fare"] = _real_numbers(df["Fare"], "Fare", label, where)
    out["Cabin"] = _text(df["Cabin"], "Cabin", label, where, required=False)
    out["Embarked"] = _choice(df["Embarked"], "Embarked", PORTS, str.upper, label, where, required=False)

    duplicated = out["PassengerId"].duplicated(keep=False)
    if duplicated.any():
        positions = np.flatnonzero(duplicated.to_numpy())
        first_id = out["PassengerId"].iat[positions[0]]
        same = [int(p) for p in positions if out["PassengerId"].iat[p] == first_id]
        raise DataError(
            f"{label}: duplicate PassengerId {first_id} on {where(same[0])} and {where(same[1])}",
            code="data.duplicate_id",
            values={
                "file": label,
                "id": int(first_id),
                **_at(where(same[0])),
                **_at(where(same[1]), "other_line"),
            },
        )
    out.attrs[SOURCE] = label
    out.attrs[GENERATED_IDS] = bool(df.attrs.get(GENERATED_IDS, False))
    return out


def load_frame(path: CsvSource, require_label: bool = True, *, name: str | None = None) -> pd.DataFrame:
    """read_csv -> normalise -> validate for one file."""
    return validate(normalise(read_csv(path, name)), require_label=require_label)


def read_channel(directory: str | PathLike[str], channel: str, require_label: bool = True) -> pd.DataFrame:
    """Every ``*.csv`` of a channel folder as one validated frame (files in name order).

    Generated PassengerIds are renumbered to follow the highest real one, so split titanic3 files
    do not collide; real PassengerIds repeated across files are an error naming both files.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise DataError(
            f"channel {channel!r}: folder {folder} does not exist",
            code="data.channel_missing",
            values={"channel": channel, "folder": str(folder)},
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise DataError(
            f"channel {channel!r}: no CSV files in {folder}",
            code="data.channel_empty",
            values={"channel": channel, "folder": str(folder)},
        )
    frames = [load_frame(p, require_label=require_label, name=f"{channel}/{p.name}") for p in files]
    if len(frames) == 1:
        return frames[0]
    return _concat_files(frames, [f"{channel}/{p.name}" for p in files], channel)


# ---------------------------------------------------------------------------------------------
# reading


def _default_name(source: Any) -> str:
    if isinstance(source, str | PathLike):
        return Path(source).name or str(source)
    return str(getattr(source, "name", "") and Path(str(source.name)).name) or "upload"


def _read_bytes(source: CsvSource, label: str) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, str | PathLike):
        path = Path(source)
        if not path.exists():
            raise DataError(
                f"{label}: file {path} does not exist",
                code="data.no_file",
                values={"file": label, "path": str(path)},
            )
        if path.is_dir():
            raise DataError(
                f"{label}: {path} is a folder, not a CSV file",
                code="data.is_folder",
                values={"file": label, "path": str(path)},
            )
        return path.read_bytes()
    content = source.read()
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def _decode(data: bytes, label: str) -> str:
    head = data[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(
            f"{label}: not a CSV file this tool reads (UTF-16 text; save it as UTF-8 CSV)",
            code="data.utf16",
            values={"file": label},
        )
    if b"\x00" in head or head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"%PDF")):
        raise DataError(
            f"{label}: not a CSV file (binary content)", code="data.binary", values={"file": label}
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Legacy spreadsheet exports are often cp1252; real binaries rarely survive the NUL check.
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise DataError(
            f"{label}: not a CSV file (not UTF-8 or Windows-1252 text)",
            code="data.encoding",
            values={"file": label},
        ) from None
    if sum(ch < " " and ch not in "\r\n\t" for ch in text[:_SNIFF_BYTES]) > 0:
        raise DataError(
            f"{label}: not a CSV file (binary content)", code="data.binary", values={"file": label}
        )
    return text


def _separator_hint(first: str) -> tuple[str, str]:
    """The hint for a one-column header, and the separators it seems to use ('' when none)."""
    for separator, word in ((";", "semicolons"), ("\t", "tabs")):
        if separator in first:
            return f"; it uses {word}, save it comma-separated", word
    return "", ""


def _reject_duplicate_columns(header: list[str], label: str) -> None:
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise DataError(
                f"{label}: column {column!r} appears twice in the header",
                code="data.duplicate_header",
                values={"file": label, "column": column},
            )
        seen.add(column)


def _shown(value: Any) -> str:
    """A cell as the user wrote it: strings quoted, numpy scalars as plain numbers."""
    if isinstance(value, str):
        return repr(value)
    return str(value.item() if isinstance(value, np.generic) else value)


def _blank_to_nan(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return np.nan if value in MISSING_MARKERS else value
    return value


# ---------------------------------------------------------------------------------------------
# validating: each helper returns the typed column or raises naming the first bad line


def _first_bad(mask: pd.Series | np.ndarray) -> int | None:
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(positions[0]) if len(positions) else None


def _is_missing(values: pd.Series) -> np.ndarray:
    return np.asarray(values.map(_is_blank).to_numpy(), dtype=bool)


def _is_blank(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip() in MISSING_MARKERS
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _as_numbers(values: pd.Series) -> np.ndarray:
    # Missing -> NaN; anything non-numeric -> NaN too, told apart from missing by the caller.
    cleaned = values.map(lambda v: np.nan if _is_blank(v) else (v.strip() if isinstance(v, str) else v))
    return np.asarray(pd.to_numeric(cleaned.astype(object), errors="coerce"), dtype=float)


def _real_numbers(values: pd.Series, column: str, label: str, where: Any) -> np.ndarray:
    missing = _is_missing(values)
    numbers = _as_numbers(values)
    bad = _first_bad(~missing & ~np.isfinite(numbers))
    if bad is not None:
        raise DataError(
            f"{label}: column {column!r} has non-numeric value {_shown(values.iat[bad])} on {where(bad)}",
            code="data.non_numeric",
            values={"file": label, "column": column, "value": _shown(values.iat[bad]), **_at(where(bad))},
        )
    bad = _first_bad(~missing & (numbers < 0))
    if bad is not None:
        raise DataError(
            f"{label}: column {column!r} is negative ({values.iat[bad]}) on {where(bad)}",
            code="data.negative",
            values={"file": label, "column": column, "value": str(values.iat[bad]), **_at(where(bad))},
        )
    return numbers


def _whole_numbers(
    values: pd.Series,
    column: str,
    label: str,
    where: Any,
    *,
    minimum: int,
    maximum: int | None = None,
) -> np.ndarray:
    missing = _is_missing(values)
    bad = _first_bad(missing)
    if bad is not None:
        raise DataError(
            f"{label}: column {column!r} is missing a value on {where(bad)}",
            code="data.missing_value",
            values={"file": label, "column": column, **_at(where(bad))},
        )
    numbers = _as_numbers(values)
    bad = _first_bad(~np.isfinite(numbers) | (numbers != np.round(numbers)))
    if bad is not None:
        value = _shown(values.iat[bad])
        raise DataError(
            f"{label}: column {column!r} has {value} on {where(bad)}, expected a whole number",
            code="data.not_whole",
            values={"file": label, "column": column, "value": value, **_at(where(bad))},
        )
    bad = _first_bad((numbers < minimum) | (numbers > (maximum if maximum is not None else np.inf)))
    if bad is not None:
        allowed = f"{minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise DataError(
            f"{label}: column {column!r} has {_shown(values.iat[bad])} on {where(bad)}, expected {allowed}",
            code="data.out_of_range" if maximum is not None else "data.below_minimum",
            values={
                "file": label,
                "column": column,
                "value": _shown(values.iat[bad]),
                "minimum": minimum,
                "maximum": maximum,
                **_at(where(bad)),
            },
        )
    return numbers.astype(np.int64)


def _label(values: pd.Series, label: str, where: Any, *, required: bool) -> Any:
    missing = _is_missing(values)
    if required:
        bad = _first_bad(missing)
        if bad is not None:
            raise DataError(
                f"{label}: column {LABEL!r} is missing a value on {where(bad)}, expected 0 or 1",
                code="data.label_missing",
                values={"file": label, "column": LABEL, **_at(where(bad))},
            )
    numbers = _as_numbers(values)
    bad = _first_bad(~missing & ~np.isin(numbers, (0.0, 1.0)))
    if bad is not None:
        raise DataError(
            f"{label}: column {LABEL!r} has {_shown(values.iat[bad])} on {where(bad)}, expected 0 or 1",
            code="data.label_not_binary",
            values={"file": label, "column": LABEL, "value": _shown(values.iat[bad]), **_at(where(bad))},
        )
    if missing.any():  # only without require_label: keep the unknowns as <NA>
        return pd.array(
            [pd.NA if m else int(n) for m, n in zip(missing, numbers, strict=True)], dtype="Int64"
        )
    return numbers.astype(np.int64)


def _text(values: pd.Series, column: str, label: str, where: Any, *, required: bool) -> pd.Series:
    missing = _is_missing(values)
    if required:
        bad = _first_bad(missing)
        if bad is not None:
            raise DataError(
                f"{label}: column {column!r} is missing a value on {where(bad)}",
                code="data.missing_value",
                values={"file": label, "column": column, **_at(where(bad))},
            )
    texts = [np.nan if m else str(v).strip() for m, v in zip(missing, values, strict=True)]
    return pd.Series(texts, dtype="str")


def _choice(
    values: pd.Series,
    column: str,
    allowed: Iterable[str],
    fold: Any,
    label: str,
    where: Any,
    *,
    required: bool,
) -> pd.Series:
    texts = _text(values, column, label, where, required=required)
    folded = texts.map(lambda v: fold(v) if isinstance(v, str) else v)
    options = tuple(allowed)
    bad = _first_bad(folded.notna() & ~folded.isin(options))
    if bad is not None:
        raise DataError(
            f"{label}: column {column!r} has {_shown(values.iat[bad])} on {where(bad)}, "
            f"expected one of {', '.join(options)}",
            code="data.not_a_choice",
            values={
                "file": label,
                "column": column,
                "value": _shown(values.iat[bad]),
                "options": ", ".join(options),
                **_at(where(bad)),
            },
        )
    return folded.astype("str")


def _concat_files(frames: list[pd.DataFrame], names: list[str], channel: str) -> pd.DataFrame:
    real_ids = [f["PassengerId"] for f in frames if not f.attrs.get(GENERATED_IDS)]
    next_id = int(max((ids.max() for ids in real_ids), default=0)) + 1
    owner: dict[int, str] = {}
    renumbered = []
    for frame, name in zip(frames, names, strict=True):
        if frame.attrs.get(GENERATED_IDS):
            frame = frame.assign(PassengerId=np.arange(next_id, next_id + len(frame), dtype=np.int64))
            next_id += len(frame)
        else:
            for passenger in frame["PassengerId"].tolist():
                if passenger in owner:
                    first = owner[passenger]
                    raise DataError(
                        f"channel {channel!r}: duplicate PassengerId {int(passenger)} in {first} and {name}",
                        code="data.duplicate_id_across",
                        values={"channel": channel, "id": int(passenger), "first": first, "second": name},
                    )
                owner[passenger] = name
        renumbered.append(frame)
    columns = [c for c in KAGGLE_COLUMNS if all(c in f.columns for f in renumbered)]
    combined = pd.concat([f[columns] for f in renumbered], ignore_index=True)
    combined.attrs[SOURCE] = f"channel {channel!r}"
    combined.attrs[GENERATED_IDS] = False
    return combined
