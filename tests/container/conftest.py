"""Fixtures for the in-container tier: synthetic passengers and a temp /opt/ml tree.

These tests also run in a venv holding only container/requirements.txt + pytest (see
test_container_dependencies.py), so nothing here may import ``services``, dabl or boto3.
The passengers are synthetic but shaped like Kaggle's train.csv, with a survival signal
(sex, class, age, shared tickets) strong enough for a model to learn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from container.contract import BASE_DIR_ENV, Paths

REPO_ROOT = Path(__file__).resolve().parents[2]
SURNAMES = ("Smith", "Brown", "Kelly", "Olsen", "Moran", "Carter", "Dean", "Hart", "Ivers", "Lund")


def make_passengers(rows: int = 400, seed: int = 0, first_id: int = 1) -> pd.DataFrame:
    """A Kaggle-schema frame; parties of 1-4 share a ticket, surname and (mostly) fate."""
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = []
    party = 0
    while len(records) < rows:
        party += 1
        size = int(rng.choice([1, 1, 1, 2, 2, 3, 4]))
        pclass = int(rng.choice([1, 2, 3], p=[0.25, 0.2, 0.55]))
        # Parties of different frames never share a ticket or a family name.
        surname = f"{SURNAMES[party % len(SURNAMES)]}{first_id}x{party}"
        party_luck = rng.normal(0, 0.4)
        fare = round(float(rng.gamma(2.0, {1: 40.0, 2: 10.0, 3: 4.0}[pclass])) * size, 4)
        embarked = str(rng.choice(["S", "C", "Q"], p=[0.7, 0.2, 0.1]))
        cabin = f"{'ABCDE'[party % 5]}{party}" if pclass == 1 and rng.random() < 0.7 else None
        for member in range(size):
            female = bool(rng.random() < 0.4)
            age = float(rng.integers(1, 70))
            title = ("Miss" if age < 30 else "Mrs") if female else ("Master" if age < 13 else "Mr")
            score = 3.5 * female - 1.2 * (pclass - 2) + (1.2 if age < 13 else 0.0) + party_luck - 0.6
            records.append(
                {
                    "PassengerId": first_id + len(records),
                    "Survived": int(rng.random() < 1 / (1 + np.exp(-score))),
                    "Pclass": pclass,
                    "Name": f"{surname}, {title}. Person {member}",
                    "Sex": "female" if female else "male",
                    "Age": age if rng.random() > 0.2 else np.nan,
                    "SibSp": min(size - 1, 1),
                    "Parch": max(size - 2, 0),
                    "Ticket": f"T{first_id}-{party:05d}",
                    "Fare": fare,
                    "Cabin": cabin,
                    "Embarked": embarked,
                }
            )
    return pd.DataFrame.from_records(records[:rows])


@pytest.fixture(scope="session")
def passengers() -> pd.DataFrame:
    return make_passengers(400, seed=0)


@pytest.fixture(scope="session")
def validation_passengers() -> pd.DataFrame:
    return make_passengers(150, seed=1, first_id=10_001)


TreeFactory = Callable[..., Paths]


@pytest.fixture
def sagemaker_tree(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    passengers: pd.DataFrame,
    validation_passengers: pd.DataFrame,
) -> TreeFactory:
    """Lay out a SageMaker tree under tmp_path and point SAGEMAKER_BASE_DIR at it.

    ``sagemaker_tree(hyperparameters={...}, validation=True, input_config=..., resources=...)``;
    pass ``train=None`` to leave out the train channel.
    """

    def build(
        hyperparameters: Mapping[str, str] | None = None,
        train: pd.DataFrame | bool | None = True,
        validation: pd.DataFrame | bool | None = True,
        input_config: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> Paths:
        paths = Paths(tmp_path / "ml")
        paths.config_dir.mkdir(parents=True, exist_ok=True)
        paths.hyperparameters_file.write_text(json.dumps(dict(hyperparameters or {})))
        channels: dict[str, Any] = {}
        for channel, frame, default in (
            ("train", train, passengers),
            ("validation", validation, validation_passengers),
        ):
            if frame is None or frame is False:
                continue
            chosen = default if frame is True else frame
            assert isinstance(chosen, pd.DataFrame)
            paths.channel_dir(channel).mkdir(parents=True, exist_ok=True)
            chosen.to_csv(paths.channel_dir(channel) / f"{channel}.csv", index=False)
            channels[channel] = {"ContentType": "text/csv", "TrainingInputMode": "File"}
        paths.input_data_config_file.write_text(
            json.dumps(channels if input_config is None else input_config)
        )
        resource_config = resources or {"current_host": "algo-1", "hosts": ["algo-1"]}
        paths.resource_config_file.write_text(json.dumps(resource_config))
        monkeypatch.setenv(BASE_DIR_ENV, str(paths.base))
        return paths

    return build


def _run_trainer(paths: Paths, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process, as the image runs it: python -m container.train ARGS."""
    environment = {**os.environ, BASE_DIR_ENV: str(paths.base), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "container.train", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def run_trainer() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_trainer(paths, "train")``: the entry point in a child process (see _run_trainer)."""
    return _run_trainer


@pytest.fixture
def passenger_factory() -> Callable[..., pd.DataFrame]:
    """``passenger_factory(rows, seed, first_id)``: a fresh synthetic frame (see make_passengers)."""
    return make_passengers
