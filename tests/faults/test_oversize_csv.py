"""An oversize CSV is refused in one line naming the limit, before it is read, and nothing is
written; memory stays bounded (a 50 MB file costs no more than a missing one; an endless pipe is
read only up to the limit)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cli_home import CliHome

from services.data import dataset

LIMIT = "5.0 MB"
# A valid header, then rows: the file is a plausible CSV, only too big.
HEADER = b"PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
ROW = b'1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n'


def _csv_of(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        out.write(HEADER)
        out.write(ROW * (size // len(ROW) + 1))
    return path


def _left_behind(home: CliHome, inputs: set[str]) -> list[str]:
    return sorted(str(p.relative_to(home.root)) for p in home.root.rglob("*") if p.name not in inputs)


@pytest.mark.parametrize(
    "command",
    [
        ("data", "prepare", "--source", "big.csv"),
        ("run", "--source", "big.csv"),
        ("predict", "--model", "nowhere", "--input", "big.csv", "--output", "out.csv"),
        ("train-here", "--train", "big.csv", "--model-dir", "model"),
    ],
    ids=["data-prepare", "run", "predict", "train-here"],
)
def test_an_oversize_csv_is_one_line_exit_1_and_nothing_written(
    cli_home: CliHome, command: tuple[str, ...]
) -> None:
    size = _csv_of(cli_home.root / "big.csv", dataset.MAX_CSV_BYTES + 1).stat().st_size
    result = cli_home.run(*command)
    assert (result.returncode, result.stdout) == (1, ""), result
    assert result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.strip()
    limit = f"{LIMIT} ({dataset.MAX_CSV_BYTES:,} bytes)"
    assert line.startswith("error: ") and f"big.csv: {size:,} bytes is over the limit of {limit}" in line, (
        line
    )
    assert line.endswith("for a CSV file; it was not read"), line
    # No state dir (no stack started), no data folder, no runs/, no submission.
    assert _left_behind(cli_home, {"big.csv"}) == []


def _peak_rss_mib(home: CliHome, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """The CLI's peak resident memory (its own and its children's), measured by a parent of its own."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(done.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(done.returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *home.command(*args)],
        cwd=home.root,
        env=home.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return int(result.stdout.strip()) / 1024, result


def test_a_50_mb_file_is_refused_without_being_read(cli_home: CliHome) -> None:
    _csv_of(cli_home.root / "huge.csv", 50 * 1024 * 1024)
    baseline, missing = _peak_rss_mib(cli_home, "data", "prepare", "--source", "missing.csv")
    assert missing.returncode == 1 and "does not exist" in missing.stderr, missing.stderr
    peak, refused = _peak_rss_mib(cli_home, "data", "prepare", "--source", "huge.csv")
    assert refused.returncode == 1, refused.stderr
    assert f"huge.csv: 50.0 MB is over the limit of {LIMIT}" in refused.stderr
    # Reading the file even once would add 50 MB; parsing it took ~1 GB before the limit.
    assert peak < baseline + 20, (peak, baseline)


def test_an_endless_pipe_is_read_only_up_to_the_limit(cli_home: CliHome) -> None:
    fifo = cli_home.root / "endless.csv"
    os.mkfifo(fifo)
    written = [0]

    def feed() -> None:
        try:
            with fifo.open("wb") as out:
                out.write(HEADER)
                while written[0] < 40 * dataset.MAX_CSV_BYTES:  # stops the feeder if the reader never does
                    out.write(ROW * 1000)
                    written[0] += len(ROW) * 1000
        except BrokenPipeError:
            pass  # the reader stopped at the limit: what this test wants

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    baseline, _ = _peak_rss_mib(cli_home, "data", "prepare", "--source", "missing.csv")
    peak, refused = _peak_rss_mib(cli_home, "data", "prepare", "--source", "endless.csv")
    feeder.join(timeout=60)
    assert refused.returncode == 1, refused.stderr
    assert f"endless.csv: over the limit of {LIMIT} for a CSV file; read no further" in refused.stderr
    assert written[0] < 2 * dataset.MAX_CSV_BYTES  # the feeder was cut off soon after the limit
    assert peak < baseline + 20, (peak, baseline)
