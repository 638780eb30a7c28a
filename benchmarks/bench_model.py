"""`make bench-model`: our pipeline against honest baselines, by repeated stratified CV on titanic3.

Every model sees the same folds of the 1,309-row titanic3 list without the leaking columns
(boat, body, home.dest). Scores are mean ± std over folds; fit time is per fit, in seconds.

    python -m benchmarks.bench_model [--folds 5] [--repeats 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from container import hyperparameters
from container.metrics import evaluate
from container.model import build_pipeline

__all__ = ["BASIC_NUMERIC", "BenchRow", "basic_lightgbm", "logistic_basic", "main", "run", "sex_only"]

BASIC_NUMERIC = ["Pclass", "Age", "SibSp", "Parch", "Fare"]
SCORES = ("accuracy", "roc_auc", "f1", "log_loss")


class SexOnly(ClassifierMixin, BaseEstimator):
    """Predicts each sex's survival rate in the training folds ("women survive")."""

    def fit(self, X: pd.DataFrame, y: Any) -> SexOnly:
        labels = pd.Series(np.asarray(y), index=X.index)
        self.rate_ = labels.groupby(X["Sex"]).mean().to_dict()
        self.overall_ = float(labels.mean())
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        survive = X["Sex"].map(self.rate_).fillna(self.overall_).to_numpy(dtype=float)
        return np.column_stack([1 - survive, survive])


def sex_only() -> Any:
    return SexOnly()


def _basic_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Raw columns only, no engineering: class, sex, age, relatives, fare, port."""
    frame = X[BASIC_NUMERIC].astype(float).copy()
    frame["is_female"] = (X["Sex"] == "female").astype(float)
    frame["Embarked"] = X["Embarked"].map({"S": 0.0, "C": 1.0, "Q": 2.0})
    return frame


def logistic_basic() -> Pipeline:
    encode = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), BASIC_NUMERIC),
            ("sex", OneHotEncoder(drop="if_binary"), ["Sex"]),
            ("port", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["Embarked"]),
        ]
    )
    return make_pipeline(encode, LogisticRegression(max_iter=1000))


def basic_lightgbm() -> Pipeline:
    import lightgbm as lgb

    return make_pipeline(FunctionTransformer(_basic_frame), lgb.LGBMClassifier(n_jobs=1, verbose=-1))


def ours() -> Pipeline:
    return build_pipeline(hyperparameters.defaults())


MODELS: dict[str, Callable[[], Any]] = {
    "sex-only baseline": sex_only,
    "logistic regression, basic features": logistic_basic,
    "LightGBM defaults, basic features": basic_lightgbm,
    "our pipeline (features + group survival + LightGBM)": ours,
}


@dataclass
class BenchRow:
    model: str
    scores: dict[str, list[float]] = field(default_factory=lambda: {score: [] for score in SCORES})
    fit_seconds: list[float] = field(default_factory=list)

    def mean_std(self, score: str) -> tuple[float, float]:
        values = self.fit_seconds if score == "fit_seconds" else self.scores[score]
        return float(np.mean(values)), float(np.std(values))


def run(frame: pd.DataFrame, folds: int = 5, repeats: int = 5, seed: int = 0) -> list[BenchRow]:
    """Score every model in MODELS on the same repeated stratified folds."""
    features = frame.drop(columns=["Survived"])
    labels = frame["Survived"].to_numpy(dtype=int)
    splits = list(
        RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed).split(features, labels)
    )
    rows = []
    for name, factory in MODELS.items():
        row = BenchRow(name)
        for fit_rows, score_rows in splits:
            estimator = factory()
            started = time.perf_counter()
            estimator.fit(features.iloc[fit_rows], labels[fit_rows])
            row.fit_seconds.append(time.perf_counter() - started)
            probability = estimator.predict_proba(features.iloc[score_rows])[:, 1]
            result = evaluate(labels[score_rows], probability)
            for score in SCORES:
                row.scores[score].append(float(result[score]))
        rows.append(row)
    return rows


def holdout(frame: pd.DataFrame, fraction: float = 0.2, seed: int = 42) -> dict[str, float]:
    """Our pipeline with default hyperparameters, fitted on the stratified training split alone
    (no validation channel, so no early stopping: the held-out rows decide nothing) and scored
    once on the held-out rows. The same split as `titanic-sm data prepare` makes."""
    from container import hyperparameters, model
    from container.metrics import evaluate
    from services import dataset

    train, held_out = dataset.split(frame, fraction, seed)
    fitted = model.fit_model(train, hyperparameters.parse({"cv_folds": "0"}))
    scores = evaluate(held_out["Survived"], model.predict_proba(fitted.pipeline, held_out))
    return {"accuracy": scores["accuracy"], "roc_auc": scores["roc_auc"], "rows": float(len(held_out))}


def format_table(rows: Sequence[BenchRow]) -> str:
    """A Markdown table, ready for the README."""
    header = "| model | accuracy | ROC AUC | F1 | log loss | fit time (s) |"
    lines = [header, "|---|---|---|---|---|---|"]
    for row in rows:
        cells = [f"{m:.3f} ± {s:.3f}" for m, s in (row.mean_std(score) for score in SCORES)]
        fit_mean, fit_std = row.mean_std("fit_seconds")
        lines.append(f"| {row.model} | {' | '.join(cells)} | {fit_mean:.3f} ± {fit_std:.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5, help="folds per repeat (default 5)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats with reshuffled folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold shuffles (default 0)")
    args = parser.parse_args(argv)
    if args.folds < 2 or args.repeats < 1:
        parser.error("--folds must be at least 2 and --repeats at least 1")

    from services import dataset

    try:
        frame = dataset.load_source()
    except dataset.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    rows = run(frame, args.folds, args.repeats, args.seed)
    print(
        f"titanic3 without boat/body/home.dest: {len(frame)} rows, "
        f"{args.repeats}x{args.folds} repeated stratified CV (seed {args.seed}), mean ± std over folds"
    )
    print()
    print(format_table(rows))
    print()
    held = holdout(frame)
    print(
        f"80/20 stratified holdout (seed 42, {held['rows']:.0f} rows), ours fitted without early stopping: "
        f"accuracy {held['accuracy']:.3f}, ROC AUC {held['roc_auc']:.3f}"
    )
    print(f"total {time.perf_counter() - started:.1f} s; accuracy above 0.90 would mean leakage")
    return 0


if __name__ == "__main__":
    sys.exit(main())
