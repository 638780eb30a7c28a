"""The trainer's hyperparameters: one typed schema, the single source for parsing, docs and the UI form.

SageMaker writes ``input/config/hyperparameters.json`` with every value a *string* (the generic
Estimator ``str()``s them, so ``True`` arrives as ``"True"``). :func:`parse` turns that mapping
into typed, range-checked values and fills the documented defaults. A misspelt key is an error
naming it and listing the valid ones, so a typo never silently trains with the default.

Platform keys: SageMaker and the SDK add keys of their own in some set-ups (``sagemaker_*``
such as ``sagemaker_job_name`` or ``sagemaker_region``, and ``_tuning_objective_metric`` from
hyperparameter tuning jobs). Those are not ours to validate: :func:`parse` leaves them out of the
result and :func:`platform_keys` lists them so the trainer logs that it saw and ignored them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from container.errors import UserError

__all__ = [
    "PLATFORM_KEY_PREFIXES",
    "SCHEMA",
    "HyperParameter",
    "HyperparameterError",
    "defaults",
    "parse",
    "platform_keys",
    "to_sagemaker",
]

PLATFORM_KEY_PREFIXES = ("sagemaker_", "_tuning_objective_metric")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class HyperparameterError(UserError):
    """A hyperparameter is unknown, of the wrong type or out of range; the message names it."""


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter: its type, default, inclusive range or choices, and a help line."""

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None

    def parse(self, raw: object) -> Any:
        text = _unquote(str(raw)).strip()
        if self.type is bool:
            value: Any = _parse_bool(self.name, text)
        elif self.type is int:
            value = _parse_int(self.name, text)
        elif self.type is float:
            value = _parse_float(self.name, text)
        else:
            value = text
        self._check_range(value)
        return value

    def _check_range(self, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            options = ", ".join(str(choice) for choice in self.choices)
            raise HyperparameterError(
                f"hyperparameter {self.name}={value!r} must be one of {options}",
                code="hyperparameter.not_a_choice",
                values={"name": self.name, "value": repr(value), "options": options},
            )
        if self.type in (int, float) and (
            (self.min is not None and value < self.min) or (self.max is not None and value > self.max)
        ):
            raise HyperparameterError(
                f"hyperparameter {self.name}={value} is out of range "
                f"[{_number(self.min)}, {_number(self.max)}]",
                code="hyperparameter.out_of_range",
                values={
                    "name": self.name,
                    "value": value,
                    "minimum": _number(self.min),
                    "maximum": _number(self.max),
                },
            )


SCHEMA: tuple[HyperParameter, ...] = (
    HyperParameter("num_leaves", int, 8, "Maximum leaves per tree; small trees suit 1,300 rows.", 2, 256),
    HyperParameter("learning_rate", float, 0.03, "Shrinkage applied to each boosting round.", 0.001, 1.0),
    HyperParameter(
        "n_estimators",
        int,
        200,
        "Maximum boosting rounds (early stopping may use fewer when a validation channel is given).",
        1,
        10_000,
    ),
    HyperParameter("min_child_samples", int, 30, "Minimum passengers in a leaf.", 1, 1_000),
    HyperParameter("feature_fraction", float, 0.8, "Fraction of features sampled per tree.", 0.1, 1.0),
    HyperParameter(
        "bagging_fraction", float, 0.8, "Fraction of rows sampled per round (1 turns bagging off).", 0.1, 1.0
    ),
    HyperParameter("reg_lambda", float, 1.0, "L2 regularisation on leaf values.", 0.0, 1_000.0),
    HyperParameter(
        "early_stopping_rounds",
        int,
        30,
        "Stop when validation log loss has not improved for this many rounds (0 = off; needs validation).",
        0,
        1_000,
    ),
    HyperParameter(
        "cv_folds", int, 5, "Stratified k-fold CV on the train channel (0 = off, otherwise 2-20).", 0, 20
    ),
    HyperParameter("seed", int, 42, "Random seed for bagging, feature sampling and CV folds.", 0, 2**31 - 1),
    HyperParameter(
        "group_survival",
        bool,
        True,
        "Use ticket/family group survival learned from training labels (the strongest feature).",
    ),
    HyperParameter(
        "checkpoint_every",
        int,
        25,
        "Write a resumable checkpoint to /opt/ml/checkpoints every N rounds and on SIGTERM (0 = off).",
        0,
        10_000,
    ),
    HyperParameter(
        "round_delay_seconds",
        float,
        0.0,
        "Sleep after each boosting round, to make stop and resume observable in demos and tests.",
        0.0,
        10.0,
    ),
)
_BY_NAME = {spec.name: spec for spec in SCHEMA}


def defaults() -> dict[str, Any]:
    return {spec.name: spec.default for spec in SCHEMA}


def changed(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from their defaults: what a launch form sends, so the job's record
    marks the rest as defaults (and a default is not pinned should it change)."""
    return {
        key: value for key, value in values.items() if key not in _BY_NAME or value != _BY_NAME[key].default
    }


def platform_keys(raw: Mapping[str, object]) -> list[str]:
    """The keys SageMaker or the SDK added (``sagemaker_*``, tuning keys) that parse() skips."""
    return sorted(key for key in raw if key.startswith(PLATFORM_KEY_PREFIXES))


def parse(raw: Mapping[str, object]) -> dict[str, Any]:
    """Typed, range-checked values for every hyperparameter: the given ones over the defaults.

    Values may be strings (as SageMaker writes them) or JSON scalars (as a hand-written file
    may hold). Raises :class:`HyperparameterError` naming the first bad key.
    """
    unknown = sorted(key for key in raw if key not in _BY_NAME and not key.startswith(PLATFORM_KEY_PREFIXES))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(valid: {', '.join(spec.name for spec in SCHEMA)})",
            code="hyperparameter.unknown",
            values={
                "s": "s" if len(unknown) > 1 else "",
                "names": ", ".join(unknown),
                "valid": ", ".join(spec.name for spec in SCHEMA),
            },
        )
    values = defaults()
    for key, value in raw.items():
        if key in _BY_NAME:
            values[key] = _BY_NAME[key].parse(value)
    if values["cv_folds"] == 1:
        raise HyperparameterError(
            "hyperparameter cv_folds=1 is not a cross-validation; use 0 (off) or 2-20",
            code="hyperparameter.one_fold",
        )
    return values


def to_sagemaker(values: Mapping[str, Any]) -> dict[str, str]:
    """The strings to pass as ``Estimator(hyperparameters=...)``; validated with the same schema.

    Only the keys given are sent, so the job's record shows what the user chose and the
    container fills the rest from its defaults (and reports them as effective values).
    """
    parsed = parse({key: _to_text(value) for key, value in values.items()})
    return {key: _to_text(parsed[key]) for key in values if key in _BY_NAME}


def _to_text(value: Any) -> str:
    return str(value)


def _unquote(text: str) -> str:
    # Framework estimators json.dumps() values, so a string may arrive wrapped in quotes.
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        return decoded if isinstance(decoded, str) else text
    return text


def _parse_bool(name: str, text: str) -> bool:
    folded = text.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise HyperparameterError(
        f"hyperparameter {name}={text!r} is not a boolean (use true or false)",
        code="hyperparameter.not_boolean",
        values={"name": name, "value": repr(text)},
    )


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} is not a whole number",
            code="hyperparameter.not_whole",
            values={"name": name, "value": repr(text)},
        ) from None


def _parse_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} is not a number",
            code="hyperparameter.not_number",
            values={"name": name, "value": repr(text)},
        ) from None
    if not math.isfinite(value):
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be a finite number",
            code="hyperparameter.not_finite",
            values={"name": name, "value": repr(text)},
        )
    return value


def _number(bound: float | None) -> str:
    if bound is None:
        return "-inf"
    return str(int(bound)) if float(bound).is_integer() else str(bound)
