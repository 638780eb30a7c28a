"""Scores, the stable metric lines the trainer prints, and the regexes SageMaker reads them with.

SageMaker applies ``metric_definitions`` regexes to the container's stdout and stderr, so the
printer and the regexes live side by side here and a test runs one against the other. A line
is ``<scope>:<metric>=<value>``, e.g. ``validation:auc=0.9012`` or ``cv:accuracy_mean=0.8312``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import numpy as np

# numpy and scikit-learn are imported where scores are computed, not here: the host reads
# METRIC_DEFINITIONS from this module on every launch and must not pay ~3 s for sklearn.

__all__ = [
    "CV_METRICS",
    "METRIC_DEFINITIONS",
    "METRIC_NAMES",
    "ROC_POINTS",
    "SCORES",
    "cv_summary",
    "evaluate",
    "metric_lines",
    "print_metrics",
]

# Score name in metrics.json -> short name on the metric line.
SCORES = {"accuracy": "accuracy", "roc_auc": "auc", "f1": "f1", "log_loss": "log_loss"}
CV_METRICS = tuple(SCORES)
# The dashboard draws the ROC curve from at most this many points.
ROC_POINTS = 101
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

METRIC_NAMES: tuple[str, ...] = (
    *(f"validation:{short}" for short in SCORES.values()),
    *(f"cv:{short}_{stat}" for short in SCORES.values() for stat in ("mean", "std")),
    "train:best_iteration",
    "train:seconds",
)
# Anchored at a line start or a non-name character, so "cv:auc_mean" never matches "auc".
METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": name, "Regex": rf"(?:^|[^\w:]){re.escape(name)}={_NUMBER}"} for name in METRIC_NAMES
]


def evaluate(y_true: Sequence[int] | np.ndarray, probability: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Accuracy, ROC AUC, F1, log loss, confusion matrix and a downsampled ROC curve at threshold 0.5.

    ROC AUC and the curve are ``None`` when only one class is present (they are undefined).
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score

    truth = np.asarray(y_true, dtype=int)
    proba = np.clip(np.asarray(probability, dtype=float), 1e-15, 1 - 1e-15)
    predicted = (proba >= 0.5).astype(int)
    both_classes = len(np.unique(truth)) == 2
    matrix = confusion_matrix(truth, predicted, labels=[0, 1])
    result: dict[str, Any] = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "roc_auc": float(roc_auc_score(truth, proba)) if both_classes else None,
        "f1": float(f1_score(truth, predicted, zero_division=0)),
        "log_loss": float(log_loss(truth, proba, labels=[0, 1])),
        "confusion_matrix": [[int(value) for value in row] for row in matrix],
        "roc_curve": _roc_points(truth, proba) if both_classes else None,
    }
    return result


def _roc_points(truth: np.ndarray, proba: np.ndarray) -> dict[str, list[float]]:
    import numpy as np
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(truth, proba)
    if len(fpr) > ROC_POINTS:
        keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(x), 6) for x in fpr], "tpr": [round(float(x), 6) for x in tpr]}


def cv_summary(fold_scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-fold scores -> {"folds": k, score: {"mean", "std", "per_fold"}} (undefined folds skipped)."""
    import numpy as np

    summary: dict[str, Any] = {"folds": len(fold_scores)}
    for score in CV_METRICS:
        values = [float(fold[score]) for fold in fold_scores if fold.get(score) is not None]
        summary[score] = {
            "mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values)) if values else None,
            "per_fold": values,
        }
    return summary


def metric_lines(
    validation: Mapping[str, Any] | None,
    cv: Mapping[str, Any] | None,
    best_iteration: int | None = None,
    training_seconds: float | None = None,
) -> list[str]:
    """The metric lines for a finished training run, in METRIC_NAMES order; undefined ones omitted."""
    values: dict[str, float | None] = {}
    if validation is not None:
        for score, short in SCORES.items():
            values[f"validation:{short}"] = validation.get(score)
    if cv is not None:
        for score, short in SCORES.items():
            for stat in ("mean", "std"):
                values[f"cv:{short}_{stat}"] = (cv.get(score) or {}).get(stat)
    values["train:best_iteration"] = None if best_iteration is None else float(best_iteration)
    values["train:seconds"] = training_seconds
    lines = []
    for name in METRIC_NAMES:
        value = values.get(name)
        if value is not None and math.isfinite(value):
            lines.append(f"{name}={_format(name, value)}")
    return lines


def print_metrics(lines: Sequence[str], stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    for line in lines:
        out.write(line + "\n")
    out.flush()


def _format(name: str, value: float) -> str:
    return str(int(value)) if name == "train:best_iteration" else f"{value:.4f}"
