"""The metric_definitions regexes, run against what the printer really prints."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from container.metrics import (
    METRIC_DEFINITIONS,
    METRIC_NAMES,
    cv_summary,
    evaluate,
    metric_lines,
    print_metrics,
)


@pytest.fixture(scope="module")
def printed() -> str:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    probability = np.clip(truth * 0.6 + rng.random(200) * 0.5, 0, 1)
    validation = evaluate(truth, probability)
    folds = [evaluate(truth[i::3], probability[i::3]) for i in range(3)]
    stream = io.StringIO()
    # A log line before and after, as in the real stdout, must not confuse the regexes.
    stream.write("2026-01-01T00:00:00Z trainer: round 25/200: validation binary_logloss 0.4673\n")
    print_metrics(metric_lines(validation, cv_summary(folds), 187, 0.61234), stream)
    stream.write("2026-01-01T00:00:01Z trainer: done\n")
    return stream.getvalue()


def test_every_metric_is_printed_once_and_parsed_back_exactly(printed: str) -> None:
    for definition in METRIC_DEFINITIONS:
        matches = [m for line in printed.splitlines() if (m := re.search(definition["Regex"], line))]
        assert len(matches) == 1, definition["Name"]
        line = matches[0].string
        assert line == f"{definition['Name']}={matches[0].group(1)}"
        float(matches[0].group(1))


def test_values_round_trip(printed: str) -> None:
    values = {}
    for definition in METRIC_DEFINITIONS:
        match = re.search(definition["Regex"], printed, re.MULTILINE)
        assert match is not None
        values[definition["Name"]] = float(match.group(1))
    assert values["train:best_iteration"] == 187
    assert values["train:seconds"] == pytest.approx(0.6123)
    assert 0.5 < values["validation:auc"] <= 1
    assert 0 <= values["cv:accuracy_std"] < 0.2


def test_similar_names_do_not_capture_each_other() -> None:
    by_name = {d["Name"]: d["Regex"] for d in METRIC_DEFINITIONS}
    assert re.search(by_name["validation:auc"], "cv:auc_mean=0.9000") is None
    assert re.search(by_name["validation:f1"], "xvalidation:f1=0.5") is None
    assert re.search(by_name["cv:f1_mean"], "cv:f1_std=0.0100") is None


def test_sagemaker_limits() -> None:
    assert [d["Name"] for d in METRIC_DEFINITIONS] == list(METRIC_NAMES)
    for definition in METRIC_DEFINITIONS:
        assert set(definition) == {"Name", "Regex"}
        assert 1 <= len(definition["Name"]) <= 255
        assert 1 <= len(definition["Regex"]) <= 500
        assert re.compile(definition["Regex"]).groups == 1


def test_undefined_scores_are_omitted_not_printed_as_nan() -> None:
    one_class = evaluate([1, 1, 1], [0.9, 0.8, 0.4])
    assert one_class["roc_auc"] is None
    assert one_class["roc_curve"] is None
    lines = metric_lines(one_class, None)
    assert "validation:accuracy=0.6667" in lines
    assert not any(line.startswith("validation:auc") for line in lines)
    assert not any("nan" in line for line in lines)


def test_evaluate_scores_and_curve() -> None:
    scores = evaluate([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    assert scores["accuracy"] == 0.5
    assert scores["confusion_matrix"] == [[1, 1], [1, 1]]
    assert scores["roc_auc"] == 0.75
    curve = scores["roc_curve"]
    assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1
    many = evaluate(np.arange(1000) % 2, np.linspace(0, 1, 1000))
    assert len(many["roc_curve"]["fpr"]) <= 101
