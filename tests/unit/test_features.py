"""TitanicFeatures: parsing helpers, and statistics learned from training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from container.features import FEATURE_NAMES, TitanicFeatures, deck_of, ticket_key, title_of
from services.data import dataset


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    return dataset.load_source()


@pytest.fixture(scope="module")
def halves(titanic: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return dataset.split(titanic, 0.5, 42)


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("Allen, Miss. Elisabeth Walton", "Miss"),
        ("Allison, Master. Hudson Trevor", "Master"),
        ("Rothes, the Countess. of (Lucy Noel Martha Dyer-Edwards)", "Mrs"),
        ("Aubart, Mme. Leontine Pauline", "Mrs"),
        ("Reuchlin, Jonkheer. John George", "Mr"),
        ("Weir, Col. John", "Rare"),
        ("Nobody without a title", "Rare"),
        (np.nan, "Rare"),
    ],
)
def test_title_of(name: object, title: str) -> None:
    assert title_of(name) == title


def test_deck_and_ticket_helpers() -> None:
    assert deck_of("C22 C26") == "C"
    assert deck_of("T") == "U"  # the single boat-deck cabin is too rare to learn
    assert deck_of(np.nan) == "U"
    assert ticket_key("A/5. 2151") == ticket_key("a/5 2151") == "A52151"
    assert ticket_key(np.nan) == ""


def test_output_is_numeric_with_the_declared_columns(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = halves
    features = TitanicFeatures().fit(train.drop(columns="Survived"), train["Survived"])
    out = features.transform(test.drop(columns="Survived"))
    assert tuple(out.columns) == FEATURE_NAMES
    assert list(features.get_feature_names_out()) == list(FEATURE_NAMES)
    assert all(dtype == np.float64 for dtype in out.dtypes)
    # Everything but group survival (unknown for passengers with no known party) is imputed.
    assert not out.drop(columns="group_survival").isna().any().any()


def test_statistics_come_from_training_rows_only(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = halves
    features = TitanicFeatures().fit(train.drop(columns="Survived"), train["Survived"])
    learned = (dict(features.age_by_title_), dict(features.fare_by_class_), dict(features.ticket_counts_))

    # Extreme test rows: if transform learned from them, the imputed values would move.
    strange = test.drop(columns="Survived").copy()
    strange["Age"] = 80.0
    strange.loc[strange.index[:5], "Age"] = np.nan
    out = features.transform(strange)
    assert (
        dict(features.age_by_title_),
        dict(features.fare_by_class_),
        dict(features.ticket_counts_),
    ) == learned
    titles = strange["Name"].map(title_of)
    for row in strange.index[:5]:
        assert out.loc[row, "age"] == features.age_by_title_[titles[row]]
        assert out.loc[row, "age"] < 80

    # Two test passengers sharing a ticket unknown to training are each a party of one.
    pair = strange.iloc[:2].copy()
    pair["Ticket"] = "NEVER-SEEN-1"
    pair["Name"] = ["Unheardof, Mr. One", "Unheardof, Mrs. Two"]
    assert features.transform(pair)["ticket_group_size"].tolist() == [1.0, 1.0]
    assert np.isnan(features.transform(pair)["group_survival"]).all()


def test_each_row_is_transformed_independently(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = halves
    features = TitanicFeatures().fit(train.drop(columns="Survived"), train["Survived"])
    frame = test.drop(columns="Survived")
    together = features.transform(frame)
    for position in (0, 17, 101):
        alone = features.transform(frame.iloc[[position]])
        pd.testing.assert_frame_equal(alone, together.iloc[[position]])


def test_group_survival_of_new_rows_uses_training_labels(titanic: pd.DataFrame) -> None:
    train = titanic.drop(columns="Survived")
    labels = titanic["Survived"]
    party = train.iloc[:4].copy()
    party["Ticket"] = "PARTY-1"
    party["Name"] = [f"Zed{i}, Mr. A" for i in range(4)]
    features = TitanicFeatures().fit(party, np.array([1, 1, 1, 0]))
    newcomer = party.iloc[[0]].assign(Name="Zed9, Mr. B")
    out = features.transform(newcomer)
    assert out["group_survival"].iloc[0] == 0.75
    assert out["group_known"].iloc[0] == 4
    assert out["ticket_group_size"].iloc[0] == 5  # four known + the newcomer
    assert len(labels) == len(train)


def test_a_training_row_never_sees_its_own_label(titanic: pd.DataFrame) -> None:
    frame = titanic.drop(columns="Survived")
    labels = titanic["Survived"].to_numpy().copy()
    before = TitanicFeatures().fit_transform(frame, labels)["group_survival"].to_numpy()
    for row in (3, 250, 900):
        flipped = labels.copy()
        flipped[row] = 1 - flipped[row]
        after = TitanicFeatures().fit_transform(frame, flipped)["group_survival"].to_numpy()
        assert after[row] == before[row] or (np.isnan(after[row]) and np.isnan(before[row]))


def test_group_survival_can_be_switched_off(halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = halves
    features = TitanicFeatures(group_survival=False)
    fitted = features.fit_transform(train.drop(columns="Survived"), train["Survived"])
    assert fitted["group_survival"].isna().all() and (fitted["group_known"] == 0).all()
    assert features.transform(test.drop(columns="Survived"))["group_survival"].isna().all()


def test_the_pipeline_trains_on_out_of_fold_group_survival(titanic: pd.DataFrame) -> None:
    """Pipeline.fit must call fit_transform (out-of-fold), not fit + transform (in-sample labels)."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.pipeline import Pipeline

    class Recorder(ClassifierMixin, BaseEstimator):
        def fit(self, X: pd.DataFrame, y: object) -> Recorder:
            self.seen_ = X.copy()
            return self

    frame, labels = titanic.drop(columns="Survived"), titanic["Survived"].to_numpy()
    pipeline = Pipeline([("features", TitanicFeatures()), ("classifier", Recorder())]).fit(frame, labels)
    seen = pipeline.named_steps["classifier"].seen_
    out_of_fold = TitanicFeatures().fit_transform(frame, labels)
    in_sample = TitanicFeatures().fit(frame, labels).transform(frame)
    pd.testing.assert_series_equal(seen["group_survival"], out_of_fold["group_survival"])
    assert not seen["group_survival"].equals(in_sample["group_survival"])
