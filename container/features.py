"""Feature engineering for Titanic passengers, as one sklearn transformer.

Every statistic (age by title, fare by class, ticket group sizes, group survival) is learned in
``fit`` from the training rows only and carried inside the fitted transformer, so the pickled
pipeline predicts the same way anywhere and test rows never inform their own features.

Group survival (families and ticket parties tend to live or die together) is the strongest
honest signal beyond sex and class. It is computed from *training labels only*:

* ``fit_transform`` (what ``Pipeline.fit`` calls) encodes each training row out-of-fold: its
  group's survival is estimated from training rows in the other inner folds, so a row never
  sees its own label, not even through a leave-one-out mean it could be decoded from;
* ``transform`` (prediction) uses all training labels of the row's groups.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold

__all__ = ["FEATURE_NAMES", "TitanicFeatures", "deck_of", "surname_of", "ticket_key", "title_of"]

TITLES = ("Mr", "Mrs", "Miss", "Master", "Rare")
# Historic and foreign forms folded into the common five, so small classes do not overfit.
TITLE_ALIASES = {
    "Mlle": "Miss",
    "Ms": "Miss",
    "Mme": "Mrs",
    "Lady": "Mrs",
    "the Countess": "Mrs",
    "Countess": "Mrs",
    "Dona": "Mrs",
    "Sir": "Mr",
    "Don": "Mr",
    "Jonkheer": "Mr",
}
DECKS = ("A", "B", "C", "D", "E", "F", "G", "U")
PORTS = ("S", "C", "Q")

FEATURE_NAMES = (
    "pclass",
    "is_female",
    "age",
    "age_missing",
    "sibsp",
    "parch",
    "fare",
    "embarked",
    "title",
    "family_size",
    "is_alone",
    "deck",
    "ticket_group_size",
    "fare_per_person",
    "group_survival",
    "group_known",
)

_TITLE_PATTERN = re.compile(r",\s*([^.]+)\.")


def title_of(name: object) -> str:
    """``"Allen, Miss. Elisabeth"`` -> ``"Miss"``; unusual titles -> ``"Rare"``."""
    match = _TITLE_PATTERN.search(str(name)) if isinstance(name, str) else None
    if match is None:
        return "Rare"
    title = TITLE_ALIASES.get(match.group(1).strip(), match.group(1).strip())
    return title if title in TITLES else "Rare"


def surname_of(name: object) -> str:
    return str(name).split(",", 1)[0].strip().lower() if isinstance(name, str) else ""


def deck_of(cabin: object) -> str:
    """First letter of the (first) cabin; unknown and the lone boat-deck "T" cabin -> ``"U"``."""
    if not isinstance(cabin, str) or not cabin.strip():
        return "U"
    letter = cabin.strip()[0].upper()
    return letter if letter in DECKS else "U"


def ticket_key(ticket: object) -> str:
    return re.sub(r"[\s./]", "", str(ticket)).upper() if isinstance(ticket, str) and ticket.strip() else ""


def _codes(values: pd.Series, vocabulary: tuple[str, ...]) -> np.ndarray:
    lookup = {value: index for index, value in enumerate(vocabulary)}
    codes: np.ndarray = values.map(lambda value: lookup.get(value, -1)).to_numpy(dtype=float)
    return codes


class TitanicFeatures(TransformerMixin, BaseEstimator):
    """Kaggle-schema frame -> numeric feature frame (columns ``FEATURE_NAMES``).

    ``group_survival`` turns the group-survival features on; ``inner_folds`` and ``seed`` control
    the out-of-fold encoding of training rows.
    """

    def __init__(self, group_survival: bool = True, inner_folds: int = 5, seed: int = 42) -> None:
        self.group_survival = group_survival
        self.inner_folds = inner_folds
        self.seed = seed

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> TitanicFeatures:
        self._learn_statistics(X)
        self.group_labels_ = self._group_labels(X, y) if self.group_survival and y is not None else {}
        self.n_features_in_ = X.shape[1]
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        self.fit(X, y)
        features = self._base_features(X)
        if self.group_survival and y is not None:
            rate, known = self._out_of_fold_group_survival(X, np.asarray(y, dtype=float))
        else:
            rate, known = np.full(len(X), np.nan), np.zeros(len(X))
        features["group_survival"] = rate
        features["group_known"] = known
        return features

    def _learn_statistics(self, X: pd.DataFrame) -> None:
        titles = X["Name"].map(title_of)
        ages = pd.to_numeric(X["Age"], errors="coerce")
        overall_age = float(ages.median()) if ages.notna().any() else 30.0
        by_title = ages.groupby(titles).median()
        self.age_by_title_ = {
            title: float(by_title[title]) if title in by_title and pd.notna(by_title[title]) else overall_age
            for title in TITLES
        }
        fares = pd.to_numeric(X["Fare"], errors="coerce")
        overall_fare = float(fares.median()) if fares.notna().any() else 14.0
        by_class = fares.groupby(pd.to_numeric(X["Pclass"], errors="coerce")).median()
        self.fare_by_class_ = {
            int(pclass): float(fare) if pd.notna(fare) else overall_fare for pclass, fare in by_class.items()
        }
        self.overall_fare_ = overall_fare
        ports = X["Embarked"].dropna()
        self.embarked_mode_ = str(ports.mode().iloc[0]) if len(ports) else "S"
        self.ticket_counts_ = X["Ticket"].map(ticket_key).value_counts().to_dict()
        self.ticket_counts_.pop("", None)

    # -- transform ---------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        features = self._base_features(X, in_training=False)
        if self.group_survival and self.group_labels_:
            rate, known = self._group_survival_from(self.group_labels_, X, exclude_self=None)
        else:
            rate, known = np.full(len(X), np.nan), np.zeros(len(X))
        features["group_survival"] = rate
        features["group_known"] = known
        return features

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)

    def _base_features(self, X: pd.DataFrame, in_training: bool = True) -> pd.DataFrame:
        titles = X["Name"].map(title_of)
        pclass = pd.to_numeric(X["Pclass"], errors="coerce")
        ages = pd.to_numeric(X["Age"], errors="coerce")
        fares = pd.to_numeric(X["Fare"], errors="coerce")
        sibsp = pd.to_numeric(X["SibSp"], errors="coerce").fillna(0)
        parch = pd.to_numeric(X["Parch"], errors="coerce").fillna(0)
        fare_fill = pclass.map(self.fare_by_class_).fillna(self.overall_fare_)
        fares = fares.fillna(fare_fill)
        tickets = X["Ticket"].map(ticket_key)
        # Training rows are already counted in ticket_counts_; a new row adds itself to its party.
        known = tickets.map(self.ticket_counts_).fillna(0)
        group_size = known if in_training else known + 1
        group_size = group_size.where(tickets != "", 1).clip(lower=1)
        family_size = sibsp + parch + 1
        features = pd.DataFrame(
            {
                "pclass": pclass.to_numpy(dtype=float),
                "is_female": (X["Sex"].astype("string").str.lower() == "female").to_numpy(dtype=float),
                "age": ages.fillna(titles.map(self.age_by_title_)).to_numpy(dtype=float),
                "age_missing": ages.isna().to_numpy(dtype=float),
                "sibsp": sibsp.to_numpy(dtype=float),
                "parch": parch.to_numpy(dtype=float),
                "fare": fares.to_numpy(dtype=float),
                "embarked": _codes(X["Embarked"].fillna(self.embarked_mode_), PORTS),
                "title": _codes(titles, TITLES),
                "family_size": family_size.to_numpy(dtype=float),
                "is_alone": (family_size == 1).to_numpy(dtype=float),
                "deck": _codes(X["Cabin"].map(deck_of), DECKS),
                "ticket_group_size": group_size.to_numpy(dtype=float),
                "fare_per_person": (fares / group_size).to_numpy(dtype=float),
            },
            index=X.index,
        )
        return features

    # -- group survival ----------------------------------------------------------------------
    @staticmethod
    def _group_keys(X: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Two overlapping notions of "travelled together": same ticket, same family.

        A family is surname + class + fare rounded, so unrelated Smiths do not merge.
        """
        tickets = X["Ticket"].map(ticket_key)
        fares = pd.to_numeric(X["Fare"], errors="coerce").round(1).astype("string").fillna("?")
        families = (
            X["Name"].map(surname_of) + "|" + X["Pclass"].astype("string") + "|" + fares.astype(str)
        ).where(X["Name"].map(surname_of) != "", "")
        return tickets.astype(str), families.astype(str)

    @classmethod
    def _group_labels(cls, X: pd.DataFrame, y: Any) -> dict[str, tuple[float, int]]:
        """key -> (survivors, members) over training rows, for ticket and family keys."""
        labels = np.asarray(y, dtype=float)
        tickets, families = cls._group_keys(X)
        totals: dict[str, list[float]] = {}
        for prefix, keys in (("t:", tickets), ("f:", families)):
            for key, label in zip(keys, labels, strict=True):
                if key:
                    entry = totals.setdefault(prefix + key, [0.0, 0])
                    entry[0] += label
                    entry[1] += 1
        return {key: (float(survived), int(members)) for key, (survived, members) in totals.items()}

    @classmethod
    def _group_survival_from(
        cls, group_labels: dict[str, tuple[float, int]], X: pd.DataFrame, exclude_self: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Survival rate of the known members of each row's ticket and family groups.

        The two groups overlap (a family usually shares a ticket), so the larger wins rather
        than counting the same people twice.
        """
        tickets, families = cls._group_keys(X)
        rates = np.full(len(X), np.nan)
        known = np.zeros(len(X))
        for row, (ticket, family) in enumerate(zip(tickets, families, strict=True)):
            best = (0.0, 0)
            for key in ("t:" + ticket if ticket else "", "f:" + family if family else ""):
                if key and key in group_labels and group_labels[key][1] > best[1]:
                    best = group_labels[key]
            if best[1]:
                rates[row] = best[0] / best[1]
                known[row] = best[1]
        return rates, known

    def _out_of_fold_group_survival(self, X: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rates = np.full(len(X), np.nan)
        known = np.zeros(len(X))
        folds = min(self.inner_folds, len(X))
        if folds < 2:
            return rates, known
        # Plain (not stratified) folds: which rows encode which must not depend on any label.
        splitter = KFold(n_splits=folds, shuffle=True, random_state=self.seed)
        for fit_rows, encode_rows in splitter.split(np.zeros(len(X))):
            labels = self._group_labels(X.iloc[fit_rows], y[fit_rows])
            fold_rates, fold_known = self._group_survival_from(labels, X.iloc[encode_rows], None)
            rates[encode_rows] = fold_rates
            known[encode_rows] = fold_known
        return rates, known
