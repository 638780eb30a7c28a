"""Rendering of one job's metrics.json (the agreed schema), its effective hyperparameters, its
CPU and memory, and a comparison of any number of jobs. Text comes from the catalogue."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import charts
import pandas as pd
import streamlit as st
from ui import plain, t

from services import submission
from services.messages import text
from services.results import artifacts

__all__ = [
    "artifact_files",
    "headline",
    "render_comparison",
    "render_effective_hyperparameters",
    "render_metrics",
    "render_resources",
    "render_submission_download",
    "render_training_job",
]


@st.cache_data(ttl=3600, show_spinner=False, max_entries=64)
def artifact_files(_settings: Any, artifact_uri: str) -> tuple[dict[str, Any], bytes]:
    """metrics.json and the bytes of model.tar.gz; an artifact never changes once written."""
    return artifacts.read_artifact(_settings, artifact_uri)


# (metrics.json key, catalogue key of its label)
CARD_METRICS = (
    ("accuracy", "metrics.accuracy"),
    ("roc_auc", "metrics.roc_auc"),
    ("f1", "metrics.f1"),
    ("log_loss", "metrics.log_loss"),
)


def headline(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Validation metrics when there was a validation channel, otherwise the CV means."""
    validation = metrics.get("validation") or {}
    cv = metrics.get("cv") or {}
    result: dict[str, float | None] = {}
    for key, _ in CARD_METRICS:
        value = validation.get(key)
        if value is None and isinstance(cv.get(key), Mapping):
            value = cv[key].get("mean")
        result[key] = float(value) if value is not None else None
    return result


def render_metrics(metrics: Mapping[str, Any], key: str) -> None:
    """Metric cards, ROC, confusion matrix, feature importance and CV spread for one job."""
    validation = metrics.get("validation") or {}
    cv = metrics.get("cv") or {}
    source = plain("metrics.from_validation") if validation else plain("metrics.from_cv")
    cards = st.columns(len(CARD_METRICS) + 1)
    for column, (name, label) in zip(cards, CARD_METRICS, strict=False):
        value = headline(metrics)[name]
        spread = cv.get(name, {}).get("std") if isinstance(cv.get(name), Mapping) else None
        column.metric(
            t(label),
            plain("common.none") if value is None else f"{value:.3f}",
            help=source + (plain("metrics.cv_std", std=spread) if spread is not None else ""),
        )
    rows = metrics.get("rows") or {}
    cards[-1].metric(t("metrics.rows"), f"{rows.get('train', '?')} / {rows.get('validation', '?')}")

    left, right = st.columns(2)
    if validation.get("roc_curve"):
        left.plotly_chart(
            charts.roc_curves({plain("metrics.validation"): validation["roc_curve"]}, plain), key=f"{key}_roc"
        )
    else:
        left.info(t("metrics.no_validation"))
    if validation.get("confusion_matrix"):
        right.plotly_chart(charts.confusion_matrix(validation["confusion_matrix"], plain), key=f"{key}_cm")
    left, right = st.columns(2)
    if metrics.get("feature_importance"):
        left.plotly_chart(charts.feature_importance(metrics["feature_importance"], plain), key=f"{key}_fi")
    if cv:
        right.plotly_chart(charts.cv_spread(cv, plain), key=f"{key}_cv")
    else:
        right.info(t("metrics.no_cv"))

    details = {
        "best_iteration": metrics.get("best_iteration"),
        "training_seconds": metrics.get("training_seconds"),
        "resumed_from_checkpoint": metrics.get("resumed_from_checkpoint"),
        "model_sha256": metrics.get("model_sha256"),
    }
    with st.expander(t("metrics.versions")):
        st.json(
            {**details, "data_sha256": metrics.get("data_sha256"), "versions": metrics.get("versions")},
            expanded=False,
        )


def _cell(value: Any) -> str:
    """A value as table text: tables show text as text, so nothing in it is interpreted."""
    if value is None:
        return plain("common.none")
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render_effective_hyperparameters(rows: Sequence[Any], key: str) -> None:
    """Every value the job ran with, defaults included, each marked set or default."""
    table = pd.DataFrame(
        [
            {
                "name": row.name,
                "value": _cell(row.value),
                "origin": plain("jobs.hp_set") if row.set else plain("jobs.hp_default"),
                "default": _cell(row.default),
                "source": row.source,
            }
            for row in rows
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        key=key,
        column_config={
            name: st.column_config.TextColumn(plain(f"jobs.hp_col_{name}"))
            for name in ("name", "value", "origin", "default", "source")
        },
    )


def render_resources(series: Any, key: str) -> None:
    """CPU and memory over the job's run, and its peak memory against the instance's memory."""
    if "local_stack_down" in series.notes:
        st.caption(t("jobs.stack_down"))
        return
    if "no_datapoints" in series.notes:
        st.caption(t("jobs.no_datapoints", source=series.source))
        return
    lines = {
        plain("jobs.cpu"): [(datetime.fromisoformat(at), value) for at, value in series.cpu],
        plain("jobs.memory"): [(datetime.fromisoformat(at), value) for at, value in series.memory],
    }
    peak_col, instance_col = st.columns(2)
    if series.peak_memory_gib is not None and series.instance_memory_gib:
        peak_col.metric(
            t("jobs.peak_memory"),
            plain("jobs.gib", gib=series.peak_memory_gib),
            help=plain("jobs.peak_percent", percent=series.peak_memory_percent),
        )
        instance_col.metric(
            t("jobs.instance_memory", instance=series.instance_type or "?"),
            plain("jobs.gib", gib=series.instance_memory_gib),
        )
    elif series.peak_memory_percent is not None:
        peak_col.metric(t("jobs.peak_memory"), plain("jobs.percent", percent=series.peak_memory_percent))
        instance_col.caption(t("jobs.no_instance_memory", instance=series.instance_type or "?"))
    note = (
        f"{plain('jobs.instance_memory', instance=series.instance_type or '?')}: "
        f"{plain('jobs.gib', gib=series.instance_memory_gib)}"
        if series.instance_memory_gib
        else None
    )
    st.plotly_chart(charts.resource_series(lines, plain, instance_memory_note=note), key=key)
    st.caption(t("jobs.resource_source", source=series.source, period=series.period_seconds))


def render_comparison(
    comparison: Any, parallel: Any, named_metrics: Mapping[str, Mapping[str, Any]], key: str
) -> None:
    """Only what differs between the jobs, a parallel-coordinates chart of their hyperparameters
    against validation accuracy, and their ROC curves overlaid."""
    if comparison.rows:
        table = pd.DataFrame(
            [
                {
                    "group": plain(f"jobs.group_{row.group}"),
                    "field": row.name,
                    **{
                        name: _cell(value)
                        for name, value in zip(comparison.job_names, row.values, strict=True)
                    },
                }
                for row in comparison.rows
            ]
        )
        st.dataframe(
            table,
            hide_index=True,
            key=f"{key}_diff",
            column_config={
                "group": st.column_config.TextColumn(plain("jobs.col_group")),
                "field": st.column_config.TextColumn(plain("jobs.col_field")),
            },
        )
    else:
        st.info(t("jobs.nothing_differs"))
    if comparison.same:
        st.caption(t("jobs.same_fields", fields=", ".join(comparison.same)))

    if parallel.dimensions and any(value is not None for value in parallel.color):
        frame = pd.DataFrame({d["name"]: d["values"] for d in parallel.dimensions})
        frame["__accuracy"] = parallel.color
        st.plotly_chart(charts.parallel_hyperparameters(frame, "__accuracy", plain), key=f"{key}_parallel")
    elif not parallel.dimensions:
        st.caption(t("jobs.no_numeric_difference"))

    table = pd.DataFrame(
        {
            name: {
                **{plain(label): headline(m)[metric] for metric, label in CARD_METRICS},
                plain("jobs.best_iteration"): m.get("best_iteration"),
                plain("jobs.training_seconds"): m.get("training_seconds"),
            }
            for name, m in named_metrics.items()
        }
    )
    if not table.empty:
        st.dataframe(table, key=f"{key}_table")
    curves = {
        name: m["validation"]["roc_curve"]
        for name, m in named_metrics.items()
        if (m.get("validation") or {}).get("roc_curve")
    }
    if curves:
        st.plotly_chart(charts.roc_curves(curves, plain), key=f"{key}_roc")


def metrics_json_bytes(metrics: Mapping[str, Any]) -> bytes:
    return json.dumps(metrics, indent=2, sort_keys=True).encode()


def render_submission_download(settings: Any, job_id: str) -> None:
    """Write the job's submission document (Korean or English) and offer it as a zip."""
    from ui import action

    choose, make = st.columns(2)
    lang = choose.radio(
        text("submission.ui.language", "ko"), ["ko", "en"], horizontal=True, key="submission_lang"
    )
    if make.button(text("submission.ui.prepare", lang), key="make_submission"):
        made = action(text("submission.ui.writing", lang), submission.download, settings, job_id, lang)
        st.session_state["submission_zip"] = (job_id, lang, made) if made else None
    ready = st.session_state.get("submission_zip")
    if ready and ready[0] == job_id and ready[1] == lang:
        file_name, data = ready[2]
        st.download_button(
            text("submission.ui.download", lang),
            data,
            file_name=file_name,
            mime="application/zip",
            key="download_submission",
        )


def render_training_job(described: Mapping[str, Any], key: str) -> None:
    """What the training API (SageMaker, or the local control plane) reports of the job: its
    training and billable seconds and the final values of the metric definitions."""
    st.markdown(t("jobs.sagemaker_heading"))
    training = described.get("TrainingTimeInSeconds")
    billable = described.get("BillableTimeInSeconds")
    st.markdown(
        t(
            "jobs.sagemaker_seconds",
            training=plain("common.none") if training is None else f"{training}",
            billable=plain("common.none") if billable is None else f"{billable}",
        )
    )
    final = described.get("FinalMetricDataList") or []
    if final:
        st.dataframe(
            pd.DataFrame([{"metric": m.get("MetricName", ""), "value": m.get("Value")} for m in final]),
            hide_index=True,
            key=key,
            column_config={
                "metric": st.column_config.TextColumn(plain("jobs.final_metric_name")),
                "value": st.column_config.NumberColumn(plain("jobs.final_metric_value"), format="%.4f"),
            },
        )
