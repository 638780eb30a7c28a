"""Chart titles, axes, legends and tooltips, and table headers, speak the page's language: every
chart and table on the pages, drawn in Korean and in English, read back from what the browser
receives. (tests/unit/test_app_catalogue.py finds a literal in app/; this finds a title nobody set,
such as an axis left to plotly's default or a header left as the frame's column name.)"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from test_jobs_page import job_with, store_completed_job, trained_model  # noqa: F401  # a session fixture, reused

from container.hyperparameters import SCHEMA
from services import messages
from services.jobs.store import JobStore
from services.settings import Settings

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _chart_words(spec: Any, inside_data: bool = False) -> Iterator[str]:
    """Every title (figure, axis, legend, colour bar, tooltip field), annotation and text mark in a
    plotly figure or a Vega-Lite spec; trace data (values, job names) is left out."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "title":
                text = value.get("text") if isinstance(value, dict) else value
                if isinstance(text, str) and text.strip():
                    yield text
            elif key == "annotations" and isinstance(value, list):
                yield from (a["text"] for a in value if isinstance(a, dict) and a.get("text"))
            elif key == "text" and isinstance(value, dict) and isinstance(value.get("value"), str):
                yield value["value"]  # a Vega-Lite text mark
            elif key == "dimensions" and isinstance(value, list):  # parallel coordinates' axes
                yield from (d["label"] for d in value if isinstance(d, dict) and d.get("label"))
            elif key in ("data", "values") and not inside_data:
                if isinstance(value, list):  # plotly traces: only their own titles (colour bars)
                    for trace in value:
                        yield from _chart_words(trace, inside_data=True)
            else:
                yield from _chart_words(value, inside_data)
    elif isinstance(spec, list):
        for item in spec:
            yield from _chart_words(item, inside_data)


def chart_words(at: AppTest) -> list[str]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    specs += [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    return [word for spec in specs for word in _chart_words(spec)]


@pytest.mark.parametrize("lang", messages.LANGUAGES)
def test_every_chart_speaks_the_pages_language(
    page: Callable[..., AppTest],
    app_settings: Settings,
    trained_model: tuple[bytes, dict[str, Any]],  # noqa: F811  # the fixture imported above
    lang: str,
) -> None:
    tarball, metrics = trained_model
    store_completed_job(app_settings, "titanic-chart-a", tarball, metrics)
    store = JobStore(app_settings.job_store_path)
    for name, leaves in (("titanic-chart-l7", "7"), ("titanic-chart-l15", "15")):
        job_with(store, name, hyperparameters={"num_leaves": leaves}, validation_accuracy=0.8)
    words: list[str] = []
    for path in ("pages/1_Data.py", "pages/2_Instance.py", "pages/4_Jobs.py"):
        at = page(path, lang=lang).run()
        assert not at.exception, [e.value for e in at.exception]
        if path == "pages/4_Jobs.py":  # the detail's charts, then Compare's parallel coordinates
            at.selectbox(key="job_detail_choice").set_value("titanic-chart-a").run()
            words += chart_words(at)
            at.session_state["jobs_tab"] = messages.text("jobs.tab_compare", lang)
            at.run()
            at.multiselect(key="compare_jobs").set_value(["titanic-chart-l7", "titanic-chart-l15"]).run()
            assert not at.exception, [e.value for e in at.exception]
        words += chart_words(at)
    # Every kind of chart was read: figure titles, axes, the Vega-Lite tooltips and text, the
    # parallel coordinates' accuracy axis.
    for key in ("chart.survival_by_sex_class", "chart.funnel", "chart.roc", "chart.startup_phases"):
        assert messages.text(key, lang) in words, (key, words)
    assert messages.text("chart.phase_start", lang) in words, words
    assert messages.text("chart.validation_accuracy", lang) in words, words
    hyperparameters = {spec.name for spec in SCHEMA}  # names stay as they are, in both languages
    shown = [w for w in words if w not in hyperparameters]
    if lang == "ko":
        assert [w for w in shown if not HANGUL.search(w)] == [], words
    else:
        assert [w for w in shown if HANGUL.search(w)] == [], words


def table_headers(at: AppTest) -> list[str]:
    """Each shown column's header as the browser draws it: its column_config label, else its name."""
    found = []
    for table in at.dataframe:
        config = json.loads(table.proto.columns or "{}")
        for column in table.value.columns:
            settings = config.get(str(column)) or config.get(f"name:{column}") or {}
            if not settings.get("hidden"):
                found.append(settings.get("label") or str(column))
    return found


# Headers that are names, not words: technical names, the Titanic CSV's own columns (the Data
# page's preview shows the file as it is) and the compared jobs' names.
TECHNICAL_HEADERS = {"vCPU", "AUC"}
CSV_COLUMNS = {"PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch"}
CSV_COLUMNS |= {"Ticket", "Fare", "Cabin", "Embarked"}


@pytest.mark.parametrize("lang", messages.LANGUAGES)
def test_every_table_header_speaks_the_pages_language(
    page: Callable[..., AppTest], app_settings: Settings, lang: str
) -> None:
    store = JobStore(app_settings.job_store_path)
    jobs = {"titanic-table-l7": "7", "titanic-table-l15": "15"}
    for name, leaves in jobs.items():
        job_with(store, name, hyperparameters={"num_leaves": leaves}, validation_accuracy=0.8)
    headers: list[str] = []
    for path in ("pages/1_Data.py", "pages/2_Instance.py", "pages/3_Train.py", "pages/4_Jobs.py"):
        at = page(path, lang=lang).run()
        assert not at.exception, [e.value for e in at.exception]
        headers += table_headers(at)
        if path == "pages/4_Jobs.py":
            at.session_state["jobs_tab"] = messages.text("jobs.tab_compare", lang)
            at.run()
            at.multiselect(key="compare_jobs").set_value(list(jobs)).run()
            headers += table_headers(at)
    for key in ("instance.col_verdict", "jobs.col_cost", "jobs.hp_col_origin"):
        assert messages.text(key, lang) in headers, (key, headers)
    words = [h for h in headers if h not in TECHNICAL_HEADERS | CSV_COLUMNS | set(jobs)]
    if lang == "ko":
        assert [h for h in words if not HANGUL.search(h)] == [], headers
    else:
        assert [h for h in words if HANGUL.search(h)] == [], headers
