"""The Data page: inline validation that names the cause, and content-versioned channels in S3."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from ui_helpers import bucket_keys, errors, shown

from services import aws, messages
from services.data import dataset
from services.settings import Settings

PAGE = "pages/1_Data.py"
UPLOAD = "upload"  # the radio's value; its label is the catalogue's data.source_upload
HEADER = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"


def good_rows(count: int) -> list[str]:
    return [
        f"{i},{i % 2},{1 + i % 3},P{i},{'female' if i % 2 else 'male'},{20 + i % 40},0,0,T{i},{7 + i},,S"
        for i in range(1, count + 1)
    ]


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The one dataframe shown on the page that has ``column``."""
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(frames) == 1, [list(d.value.columns) for d in at.dataframe]
    return frames[0]


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.radio(key="data_source").set_value(UPLOAD).run()
    at.file_uploader(key="data_upload").set_value((name, content, "text/csv"))
    return at.run()


def test_csv_without_a_required_column_is_named_and_nothing_reaches_s3(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    no_sex = "\n".join(
        [HEADER.replace(",Sex", ""), *(",".join(r.split(",")[:4] + r.split(",")[5:]) for r in good_rows(30))]
    )
    at = upload(page(PAGE).run(), "no_sex.csv", no_sex.encode())

    assert not at.exception
    assert any("no_sex.csv" in e and "'Sex'" in e for e in errors(at)), errors(at)
    assert not [b for b in at.button if b.key == "write_to_s3"], "a bad file must not offer Write to S3"
    assert bucket_keys(app_settings) == []


def test_bad_cell_is_named_by_column_and_line(page: Callable[[str], AppTest], app_settings: Settings) -> None:
    rows = good_rows(30)
    rows[2] = rows[2].replace(",23,", ",twenty,")  # row 3 is CSV line 4 (after the header)
    at = upload(page(PAGE).run(), "bad_age.csv", "\n".join([HEADER, *rows]).encode())

    message = " ".join(errors(at))
    assert "'Age'" in message and "line 4" in message, message
    assert bucket_keys(app_settings) == []


def test_bundled_dataset_is_written_under_its_content_version(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    assert not errors(at), errors(at)
    assert len(at.get("plotly_chart")) == 3  # survival by sex x class, age by outcome, missing values

    at.button(key="write_to_s3").click().run()
    assert not errors(at), errors(at)
    keys = bucket_keys(app_settings)
    versions = {k.split("/")[2] for k in keys}
    assert len(versions) == 1, keys
    version = versions.pop()
    assert any(version in s.value for s in at.success)

    # The page shows each channel's URI and sha256, and the sha256 is the object's content hash.
    shown = frame_with(at, "sha256")
    s3 = aws.client(app_settings, "s3")
    for _, row in shown.iterrows():
        bucket, prefix = row["S3 URI"][5:].split("/", 1)
        body = s3.get_object(Bucket=bucket, Key=prefix + row["file"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == row["sha256"]
    assert set(shown["channel"]) == {"train", "validation"}

    # A fresh session lists the version and can select it again.
    again = page(PAGE).run()
    assert list(frame_with(again, "prefix")["version"]) == [version]
    again.button(key="use_version").click().run()
    assert again.session_state["selected_dataset"]["version"] == version


def test_upload_over_the_size_limit_is_refused_before_parsing(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    too_big = (HEADER + "\n").encode() + b"1" * (dataset.MAX_UPLOAD_BYTES + 1)
    at = upload(page(PAGE).run(), "huge.csv", too_big)
    message = " ".join(errors(at))
    assert "huge.csv" in message and "over the upload limit" in message, message
    assert bucket_keys(app_settings) == []


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_upload_with_extra_columns_is_accepted_and_each_dropped_column_named(
    page: Callable[..., AppTest], app_settings: Settings, lang: str
) -> None:
    """Extra columns are accepted with a warning naming each one, the leaking ones said so too, and
    none of them reaches the preview, S3 or the model."""
    rows = [f"{row},{i},x{i},{i % 3}" for i, row in enumerate(good_rows(40))]
    csv = "\n".join([f"{HEADER},boat,note,home.dest", *rows]).encode()
    at = upload(page(PAGE, lang=lang).run(), "extra.csv", csv)
    assert not errors(at), errors(at)
    warnings = [shown(w.value) for w in at.warning]
    assert shown(messages.text("data.ignored_columns", lang, count=1, columns="'note'")) in warnings, warnings
    assert shown(messages.text("data.leaking_columns", lang, columns="'boat', 'home.dest'")) in warnings, (
        warnings
    )
    assert not {"boat", "note", "home.dest"} & set(frame_with(at, "Survived").columns)

    at.button(key="write_to_s3").click().run()
    assert not errors(at), errors(at)
    s3 = aws.client(app_settings, "s3")
    channels = [k for k in bucket_keys(app_settings) if k.endswith(".csv")]
    assert channels, bucket_keys(app_settings)
    for key in channels:
        header = s3.get_object(Bucket=app_settings.bucket, Key=key)["Body"].read().decode().splitlines()[0]
        assert not {"boat", "note", "home.dest"} & set(header.split(",")), (key, header)
