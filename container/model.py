"""The model: one sklearn Pipeline (TitanicFeatures -> LGBMClassifier), its fit, CV and importances.

The artifact holds the fitted pipeline twice:

* ``model.txt`` (LightGBM's own text model) + ``features.json`` (the feature step's learned
  statistics): loaded by ``load_text_model`` without unpickling anything, so a crafted file can
  give wrong predictions but never run code. ``titanic-sm predict`` uses this format.
* ``model.joblib``: the pickled pipeline, kept for artifacts made before the text format and for
  code that wants the sklearn object; loading it runs whatever it holds, so it needs trust.

Both predict from a Kaggle-schema frame (``Survived`` optional, ``PassengerId`` ignored).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from container.contract import FEATURES_FILE, MODEL_TEXT_FILE
from container.errors import UserError
from container.features import FEATURE_NAMES, TitanicFeatures
from container.metrics import cv_summary, evaluate

__all__ = [
    "LABEL",
    "TEXT_MODEL_FORMAT",
    "FitResult",
    "TextModel",
    "TextModelError",
    "build_pipeline",
    "check_cv_folds",
    "classifier_params",
    "cross_validate",
    "feature_importance",
    "fit_model",
    "load_text_model",
    "predict_proba",
    "split_label",
    "text_model_files",
]

LABEL = "Survived"
# features.json's "format": bumped whenever the feature step's state changes shape.
TEXT_MODEL_FORMAT = "titanic-sm-features/1"


@dataclass
class FitResult:
    pipeline: Pipeline
    # Rounds the model predicts with: the early-stopping best, or every round trained.
    best_iteration: int
    early_stopped: bool
    # Rounds carried over from a checkpoint (0 when training started from scratch).
    resumed_rounds: int


def classifier_params(hp: Mapping[str, Any], n_estimators: int | None = None) -> dict[str, Any]:
    """LGBMClassifier keyword arguments from parsed hyperparameters."""
    bagging = float(hp["bagging_fraction"])
    return {
        "objective": "binary",
        "num_leaves": int(hp["num_leaves"]),
        "learning_rate": float(hp["learning_rate"]),
        "n_estimators": int(hp["n_estimators"] if n_estimators is None else n_estimators),
        "min_child_samples": int(hp["min_child_samples"]),
        "colsample_bytree": float(hp["feature_fraction"]),
        "subsample": bagging,
        # LightGBM bags only when the frequency is positive; 1.0 means no bagging anyway.
        "subsample_freq": 1 if bagging < 1.0 else 0,
        "reg_lambda": float(hp["reg_lambda"]),
        "random_state": int(hp["seed"]),
        # 1,300 rows fit in well under a second: threads only add jitter and contention.
        "n_jobs": 1,
        "verbose": -1,
    }


def build_pipeline(hp: Mapping[str, Any], n_estimators: int | None = None) -> Pipeline:
    return Pipeline(
        [
            ("features", TitanicFeatures(group_survival=bool(hp["group_survival"]), seed=int(hp["seed"]))),
            ("classifier", lgb.LGBMClassifier(**classifier_params(hp, n_estimators))),
        ]
    )


def split_label(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Features frame (Survived dropped) and the 0/1 label array."""
    return frame.drop(columns=[LABEL]), frame[LABEL].to_numpy(dtype=int)


def fit_model(
    train: pd.DataFrame,
    hp: Mapping[str, Any],
    validation: pd.DataFrame | None = None,
    callbacks: Sequence[Callable[[Any], None]] = (),
    init_model: lgb.Booster | None = None,
    resumed_rounds: int = 0,
) -> FitResult:
    """Fit the pipeline on ``train``; early-stop on ``validation`` when given and enabled.

    ``init_model`` continues boosting from a checkpointed booster that already holds
    ``resumed_rounds`` rounds, training only the rest up to ``n_estimators``.
    """
    features_frame, labels = split_label(train)
    remaining = max(1, int(hp["n_estimators"]) - resumed_rounds)
    pipeline = build_pipeline(hp, n_estimators=remaining)
    features: TitanicFeatures = pipeline.named_steps["features"]
    classifier: lgb.LGBMClassifier = pipeline.named_steps["classifier"]
    matrix = features.fit_transform(features_frame, labels)
    fit_callbacks = list(callbacks)
    fit_kwargs: dict[str, Any] = {}
    stopping_rounds = int(hp["early_stopping_rounds"])
    if validation is not None:
        valid_frame, valid_labels = split_label(validation)
        fit_kwargs["eval_X"] = (features.transform(valid_frame),)
        fit_kwargs["eval_y"] = (valid_labels,)
        fit_kwargs["eval_names"] = ["validation"]
        fit_kwargs["eval_metric"] = "binary_logloss"
        if stopping_rounds > 0:
            fit_callbacks.append(lgb.early_stopping(stopping_rounds, first_metric_only=True, verbose=False))
    classifier.fit(matrix, labels, init_model=init_model, callbacks=fit_callbacks, **fit_kwargs)
    total_rounds = classifier.booster_.current_iteration()
    # best_iteration_ is set (and the booster cut to it) only when early stopping ran; it counts
    # checkpointed rounds too.
    best = int(classifier.best_iteration_ or 0)
    early_stopped = 0 < best < resumed_rounds + remaining
    return FitResult(
        pipeline=pipeline,
        best_iteration=best if best > 0 else total_rounds,
        early_stopped=early_stopped,
        resumed_rounds=resumed_rounds,
    )


def predict_proba(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Survival probability per row of a Kaggle-schema frame (Survived, if present, is ignored)."""
    features_frame = frame.drop(columns=[LABEL], errors="ignore")
    return np.asarray(pipeline.predict_proba(features_frame)[:, 1], dtype=float)


def check_cv_folds(labels: np.ndarray, folds: int) -> None:
    """Stratified k-fold needs k passengers of each class; say so before any training."""
    smallest_class = int(np.bincount(labels, minlength=2).min())
    if folds > smallest_class:
        raise UserError(
            f"cv_folds={folds} needs at least {folds} passengers of each class in the train channel "
            f"(the smaller class has {smallest_class}); lower cv_folds or set it to 0"
        )


def cross_validate(
    train: pd.DataFrame,
    hp: Mapping[str, Any],
    rounds: int | None = None,
    between_folds: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Stratified k-fold CV (``cv_folds``) on ``train`` with a fixed number of rounds.

    ``rounds`` defaults to ``n_estimators``; the trainer passes the early-stopped best so CV
    scores the model it ships. ``between_folds(fold)`` runs before each fold (stop checks).
    """
    folds = int(hp["cv_folds"])
    features_frame, labels = split_label(train)
    check_cv_folds(labels, folds)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(hp["seed"]))
    scores = []
    for fold, (fit_rows, score_rows) in enumerate(splitter.split(features_frame, labels)):
        if between_folds is not None:
            between_folds(fold)
        pipeline = build_pipeline(hp, n_estimators=rounds)
        pipeline.fit(features_frame.iloc[fit_rows], labels[fit_rows])
        probability = pipeline.predict_proba(features_frame.iloc[score_rows])[:, 1]
        scores.append(evaluate(labels[score_rows], probability))
    return cv_summary(scores)


def feature_importance(pipeline: Pipeline) -> list[dict[str, Any]]:
    """[{"feature", "gain"}] from the fitted booster, largest gain first."""
    features: TitanicFeatures = pipeline.named_steps["features"]
    classifier: lgb.LGBMClassifier = pipeline.named_steps["classifier"]
    names = list(features.get_feature_names_out())
    gains = classifier.booster_.feature_importance(importance_type="gain")
    pairs = [
        {"feature": name, "gain": round(float(gain), 4)} for name, gain in zip(names, gains, strict=True)
    ]
    return sorted(pairs, key=lambda pair: (-pair["gain"], pair["feature"]))


# -- the safe format: LightGBM's text model + the feature step's state as JSON -------------------


class TextModelError(ValueError):
    """``model.txt`` or ``features.json`` cannot be read; the message is one line."""


@dataclass(frozen=True)
class TextModel:
    """The fitted pipeline rebuilt from text: the same ``predict_proba`` as the pipeline's."""

    features: TitanicFeatures
    booster: lgb.Booster

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        survived = np.asarray(self.booster.predict(self.features.transform(frame)), dtype=float)
        return np.column_stack([1.0 - survived, survived])


def _features_state(features: TitanicFeatures) -> dict[str, Any]:
    """Everything ``TitanicFeatures.fit`` learned, in JSON's types (keys are strings)."""
    return {
        "format": TEXT_MODEL_FORMAT,
        "feature_names": list(FEATURE_NAMES),
        "params": {
            "group_survival": bool(features.group_survival),
            "inner_folds": int(features.inner_folds),
            "seed": int(features.seed),
        },
        "n_features_in": int(features.n_features_in_),
        "age_by_title": {str(k): float(v) for k, v in features.age_by_title_.items()},
        "fare_by_class": {str(int(k)): float(v) for k, v in features.fare_by_class_.items()},
        "overall_fare": float(features.overall_fare_),
        "embarked_mode": str(features.embarked_mode_),
        "ticket_counts": {str(k): int(v) for k, v in features.ticket_counts_.items()},
        "group_labels": {str(k): [float(s), int(n)] for k, (s, n) in features.group_labels_.items()},
    }


def _features_from_state(state: Mapping[str, Any]) -> TitanicFeatures:
    if state.get("format") != TEXT_MODEL_FORMAT:
        raise TextModelError(f"features.json has format {state.get('format')!r}, not {TEXT_MODEL_FORMAT}")
    if list(state.get("feature_names") or []) != list(FEATURE_NAMES):
        raise TextModelError("features.json was made for other features than this version computes")
    try:
        params = state["params"]
        features = TitanicFeatures(
            group_survival=bool(params["group_survival"]),
            inner_folds=int(params["inner_folds"]),
            seed=int(params["seed"]),
        )
        features.n_features_in_ = int(state["n_features_in"])
        features.age_by_title_ = {str(k): float(v) for k, v in state["age_by_title"].items()}
        features.fare_by_class_ = {int(k): float(v) for k, v in state["fare_by_class"].items()}
        features.overall_fare_ = float(state["overall_fare"])
        features.embarked_mode_ = str(state["embarked_mode"])
        features.ticket_counts_ = {str(k): int(v) for k, v in state["ticket_counts"].items()}
        features.group_labels_ = {str(k): (float(v[0]), int(v[1])) for k, v in state["group_labels"].items()}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        cause = f"{type(exc).__name__}: {exc}"
        raise TextModelError(f"features.json is incomplete or malformed: {cause}") from None
    return features


def text_model_files(pipeline: Pipeline) -> dict[str, bytes]:
    """``model.txt`` and ``features.json`` of a fitted pipeline (file name -> content)."""
    classifier: lgb.LGBMClassifier = pipeline.named_steps["classifier"]
    # Saves the early-stopped best iteration when there is one: what predict_proba uses.
    text = classifier.booster_.model_to_string()
    state = _features_state(pipeline.named_steps["features"])
    return {
        MODEL_TEXT_FILE: text.encode("utf-8"),
        FEATURES_FILE: json.dumps(state, indent=1, sort_keys=True, allow_nan=False).encode("utf-8"),
    }


def load_text_model(model_text: bytes, features_json: bytes) -> TextModel:
    """The pipeline from ``model.txt`` + ``features.json``: parsing text and JSON, never unpickling."""
    try:
        state = json.loads(features_json)
    except ValueError as exc:
        raise TextModelError(f"features.json is not valid JSON ({exc})") from None
    if not isinstance(state, dict):
        raise TextModelError("features.json is not a JSON object")
    features = _features_from_state(state)
    try:
        booster = lgb.Booster(model_str=model_text.decode("utf-8"))
    except (lgb.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise TextModelError(f"model.txt is not a LightGBM model: {' '.join(str(exc).split())}") from None
    if booster.num_feature() != len(FEATURE_NAMES):
        raise TextModelError(
            f"model.txt expects {booster.num_feature()} features, this version computes {len(FEATURE_NAMES)}"
        )
    return TextModel(features=features, booster=booster)
