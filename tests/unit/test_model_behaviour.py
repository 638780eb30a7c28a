"""Behavioural tests of the trained pipeline: directional, invariance and minimum functionality."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from container import hyperparameters, model
from services.data import dataset


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return dataset.split(dataset.load_source(), 0.2, 42)


@pytest.fixture(scope="module")
def pipeline(split: tuple[pd.DataFrame, pd.DataFrame]) -> Pipeline:
    train, _ = split
    return model.fit_model(train, hyperparameters.parse({"cv_folds": "0"})).pipeline


def _passenger(**overrides: object) -> pd.DataFrame:
    base = {
        "PassengerId": 5000,
        "Pclass": 2,
        "Name": "Newcomer, Mr. Alex",
        "Sex": "male",
        "Age": 30.0,
        "SibSp": 0,
        "Parch": 0,
        "Ticket": "UNSEEN-1",
        "Fare": 15.0,
        "Cabin": np.nan,
        "Embarked": "S",
    }
    return pd.DataFrame([{**base, **overrides}])


def _score(pipeline: Pipeline, frame: pd.DataFrame) -> float:
    return float(model.predict_proba(pipeline, frame)[0])


def test_first_class_woman_scores_higher_than_third_class_man(pipeline: Pipeline) -> None:
    woman = _passenger(Pclass=1, Sex="female", Name="Newcomer, Mrs. Ada", Fare=80.0, Cabin="C85")
    man = _passenger(Pclass=3, Sex="male", Name="Newcomer, Mr. Bob", Fare=8.05)
    assert _score(pipeline, woman) > 0.8
    assert _score(pipeline, man) < 0.2


@pytest.mark.parametrize("pclass", [1, 2, 3])
def test_being_female_raises_the_score_in_every_class(pipeline: Pipeline, pclass: int) -> None:
    man = _passenger(Pclass=pclass, Sex="male", Name="Newcomer, Mr. C")
    woman = _passenger(Pclass=pclass, Sex="female", Name="Newcomer, Mrs. C")
    assert _score(pipeline, woman) > _score(pipeline, man)


def test_boys_score_higher_than_grown_men(pipeline: Pipeline) -> None:
    boy = _passenger(Name="Newcomer, Master. Tom", Age=6.0, Parch=2)
    man = _passenger(Name="Newcomer, Mr. Tom", Age=40.0)
    assert _score(pipeline, boy) > _score(pipeline, man)


def test_passenger_id_does_not_change_predictions(
    pipeline: Pipeline, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, validation = split
    renumbered = validation.assign(PassengerId=validation["PassengerId"] * 7 + 100_000)
    np.testing.assert_array_equal(
        model.predict_proba(pipeline, validation), model.predict_proba(pipeline, renumbered)
    )


def test_label_column_and_row_order_do_not_change_predictions(
    pipeline: Pipeline, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, validation = split
    expected = model.predict_proba(pipeline, validation)
    # Kaggle's test.csv has no Survived column; a wrong Survived must not matter either.
    np.testing.assert_array_equal(
        model.predict_proba(pipeline, validation.drop(columns="Survived")), expected
    )
    np.testing.assert_array_equal(
        model.predict_proba(pipeline, validation.assign(Survived=1 - validation["Survived"])), expected
    )
    reversed_rows = validation.iloc[::-1]
    np.testing.assert_array_equal(model.predict_proba(pipeline, reversed_rows), expected[::-1])


def test_pickled_pipeline_predicts_the_same(
    pipeline: Pipeline, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, validation = split
    restored = pickle.loads(pickle.dumps(pipeline))
    np.testing.assert_array_equal(
        model.predict_proba(restored, validation), model.predict_proba(pipeline, validation)
    )


def test_same_seed_same_model_other_seed_other_model(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, validation = split
    first = model.fit_model(train, hyperparameters.parse({"cv_folds": "0", "n_estimators": "60"})).pipeline
    again = model.fit_model(train, hyperparameters.parse({"cv_folds": "0", "n_estimators": "60"})).pipeline
    other = model.fit_model(
        train, hyperparameters.parse({"cv_folds": "0", "n_estimators": "60", "seed": "7"})
    ).pipeline
    np.testing.assert_array_equal(
        model.predict_proba(first, validation), model.predict_proba(again, validation)
    )
    assert not np.array_equal(model.predict_proba(first, validation), model.predict_proba(other, validation))
