"""Rendering of one job's metrics.json (the agreed schema) and of a two-job comparison."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import charts
import pandas as pd
import streamlit as st

from services import artifacts, submission
from services.messages import text

__all__ = ["artifact_files", "headline", "render_comparison", "render_metrics", "render_submission_download"]


@st.cache_data(ttl=3600, show_spinner=False, max_entries=64)
def artifact_files(_settings: Any, artifact_uri: str) -> tuple[dict[str, Any], bytes]:
    """metrics.json and the bytes of model.tar.gz; an artifact never changes once written."""
    return artifacts.read_artifact(_settings, artifact_uri)


CARD_METRICS = (("accuracy", "Accuracy"), ("roc_auc", "ROC AUC"), ("f1", "F1"), ("log_loss", "Log loss"))


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
    source = "validation" if validation else "cross-validation mean"
    cards = st.columns(len(CARD_METRICS) + 1)
    for column, (name, label) in zip(cards, CARD_METRICS, strict=False):
        value = headline(metrics)[name]
        spread = cv.get(name, {}).get("std") if isinstance(cv.get(name), Mapping) else None
        column.metric(
            label,
            "—" if value is None else f"{value:.3f}",
            help=f"{source}" + (f"; CV std {spread:.3f}" if spread is not None else ""),
        )
    rows = metrics.get("rows") or {}
    cards[-1].metric("Rows (train / val)", f"{rows.get('train', '?')} / {rows.get('validation', '?')}")

    left, right = st.columns(2)
    if validation.get("roc_curve"):
        left.plotly_chart(charts.roc_curves({"validation": validation["roc_curve"]}), key=f"{key}_roc")
    else:
        left.info("No validation channel: no ROC curve or confusion matrix.")
    if validation.get("confusion_matrix"):
        right.plotly_chart(charts.confusion_matrix(validation["confusion_matrix"]), key=f"{key}_cm")
    left, right = st.columns(2)
    if metrics.get("feature_importance"):
        left.plotly_chart(charts.feature_importance(metrics["feature_importance"]), key=f"{key}_fi")
    if cv:
        right.plotly_chart(charts.cv_spread(cv), key=f"{key}_cv")
    else:
        right.info("Cross-validation was off for this job (cv_folds=0).")

    details = {
        "best_iteration": metrics.get("best_iteration"),
        "training_seconds": metrics.get("training_seconds"),
        "resumed_from_checkpoint": metrics.get("resumed_from_checkpoint"),
        "model_sha256": metrics.get("model_sha256"),
    }
    with st.expander("Effective hyperparameters, data and versions"):
        st.json(
            {
                **details,
                "hyperparameters": metrics.get("hyperparameters"),
                "data_sha256": metrics.get("data_sha256"),
                "versions": metrics.get("versions"),
            },
            expanded=False,
        )


def render_comparison(named_metrics: Mapping[str, Mapping[str, Any]], key: str) -> None:
    """Two (or more) jobs' headline metrics side by side and their ROC curves overlaid."""
    table = pd.DataFrame(
        {
            name: {
                **{label: headline(m)[metric] for metric, label in CARD_METRICS},
                "best iteration": m.get("best_iteration"),
                "training s": m.get("training_seconds"),
            }
            for name, m in named_metrics.items()
        }
    )
    st.dataframe(table, key=f"{key}_table")
    curves = {
        name: m["validation"]["roc_curve"]
        for name, m in named_metrics.items()
        if (m.get("validation") or {}).get("roc_curve")
    }
    if curves:
        st.plotly_chart(charts.roc_curves(curves), key=f"{key}_roc")
    hyper = pd.DataFrame({name: m.get("hyperparameters") or {} for name, m in named_metrics.items()})
    if not hyper.empty:
        differing = hyper[hyper.astype(str).nunique(axis=1) > 1]
        st.caption("Hyperparameters that differ" if not differing.empty else "Same hyperparameters")
        st.dataframe((differing if not differing.empty else hyper).astype(str), key=f"{key}_hp")


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
