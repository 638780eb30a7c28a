"""benchmarks.bench_model scores every model on the same folds and formats one table row each."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import bench_model
from services import dataset


@pytest.fixture(scope="module")
def rows() -> list[bench_model.BenchRow]:
    return bench_model.run(dataset.load_source(), folds=2, repeats=1, seed=0)


def test_every_model_is_scored_on_every_fold(rows: list[bench_model.BenchRow]) -> None:
    assert [row.model for row in rows] == list(bench_model.MODELS)
    for row in rows:
        assert len(row.fit_seconds) == 2
        assert all(len(values) == 2 for values in row.scores.values())


def test_the_ranking_matches_the_honest_references(rows: list[bench_model.BenchRow]) -> None:
    auc = {row.model: row.mean_std("roc_auc")[0] for row in rows}
    sex_only, logistic, lightgbm, ours = (auc[name] for name in bench_model.MODELS)
    assert 0.72 < sex_only < 0.80  # women-survive alone: about 0.76
    assert logistic > sex_only and lightgbm > sex_only
    assert ours > max(logistic, lightgbm)


def test_table_has_a_row_per_model(rows: list[bench_model.BenchRow]) -> None:
    table = bench_model.format_table(rows).splitlines()
    assert table[0].startswith("| model | accuracy | ROC AUC | F1 | log loss | fit time (s) |")
    assert len(table) == 2 + len(bench_model.MODELS)
    assert all(line.count("±") == 5 for line in table[2:])


def test_sex_only_baseline_predicts_each_sex_rate() -> None:
    frame = pd.DataFrame({"Sex": ["female", "female", "male", "male", "male"]})
    model = bench_model.SexOnly().fit(frame, [1, 0, 0, 0, 1])
    assert model.predict_proba(frame)[:, 1].round(3).tolist() == [0.5, 0.5, 0.333, 0.333, 0.333]
