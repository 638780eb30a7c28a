"""Plotly figures for the dashboard, built from plain data (frames and metrics.json dicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

__all__ = [
    "age_by_outcome",
    "confusion_matrix",
    "cv_spread",
    "feature_importance",
    "missing_values",
    "price_vs_memory",
    "roc_curves",
    "status_timeline",
    "survival_by_sex_class",
]

OUTCOME_LABELS = {0: "died", 1: "survived"}


def survival_by_sex_class(frame: pd.DataFrame) -> go.Figure:
    rates = (
        frame.dropna(subset=["Survived"])
        .groupby(["Sex", "Pclass"], observed=True)["Survived"]
        .agg(["mean", "count"])
        .reset_index()
    )
    rates["Pclass"] = rates["Pclass"].astype(str)
    fig = px.bar(
        rates,
        x="Pclass",
        y="mean",
        color="Sex",
        barmode="group",
        hover_data={"count": True},
        labels={"mean": "survival rate", "Pclass": "class"},
        title="Survival rate by sex and class",
    )
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def age_by_outcome(frame: pd.DataFrame) -> go.Figure:
    ages = frame.dropna(subset=["Age", "Survived"]).copy()
    ages["outcome"] = ages["Survived"].astype(int).map(OUTCOME_LABELS)
    return px.histogram(
        ages, x="Age", color="outcome", barmode="overlay", nbins=40, opacity=0.7, title="Age by outcome"
    )


def missing_values(frame: pd.DataFrame) -> go.Figure:
    counts = frame.isna().sum()
    table = pd.DataFrame({"column": counts.index, "missing": counts.to_numpy()})
    return px.bar(table, x="column", y="missing", title="Missing values per column")


def status_timeline(phases: Sequence[tuple[str, datetime, datetime]]) -> go.Figure:
    """One bar per (phase, start, end): where a job's time went."""
    rows = pd.DataFrame(phases, columns=["phase", "start", "end"])
    fig = px.timeline(rows, x_start="start", x_end="end", y="phase", color="phase", title="Status timeline")
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_layout(showlegend=False, height=260)
    return fig


def roc_curves(curves: Mapping[str, Mapping[str, Sequence[float]]]) -> go.Figure:
    """One line per named ROC curve ({"fpr": [...], "tpr": [...]}), plus the chance diagonal."""
    fig = go.Figure()
    for name, curve in curves.items():
        fig.add_trace(go.Scatter(x=list(curve["fpr"]), y=list(curve["tpr"]), mode="lines", name=name))
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "grey"})
    )
    fig.update_layout(
        title="ROC curve (validation)",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        xaxis={"range": [0, 1]},
        yaxis={"range": [0, 1]},
    )
    return fig


def confusion_matrix(matrix: Sequence[Sequence[int]]) -> go.Figure:
    labels = ["died", "survived"]
    fig = go.Figure(
        go.Heatmap(
            z=[list(row) for row in matrix],
            x=[f"predicted {label}" for label in labels],
            y=[f"actual {label}" for label in labels],
            text=[[str(v) for v in row] for row in matrix],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(title="Confusion matrix (validation)", yaxis={"autorange": "reversed"})
    return fig


def feature_importance(importance: Sequence[Mapping[str, Any]], top: int = 20) -> go.Figure:
    rows = pd.DataFrame(list(importance)[:top])
    if rows.empty:
        rows = pd.DataFrame({"feature": [], "gain": []})
    fig = px.bar(rows, x="gain", y="feature", orientation="h", title="Feature importance (gain)")
    fig.update_yaxes(autorange="reversed")
    return fig


def cv_spread(cv: Mapping[str, Any]) -> go.Figure:
    """Per-fold scores for each CV metric, as box plots with the folds as points."""
    fig = go.Figure()
    for metric in ("accuracy", "roc_auc", "f1"):
        summary = cv.get(metric)
        if isinstance(summary, Mapping) and summary.get("per_fold"):
            fig.add_trace(go.Box(y=list(summary["per_fold"]), name=metric, boxpoints="all"))
    fig.update_layout(title=f"Cross-validation spread ({cv.get('folds', '?')} folds)", showlegend=False)
    return fig


def price_vs_memory(
    rows: pd.DataFrame, quota_column: str = "quota", purchase: str = "on-demand"
) -> go.Figure:
    """Price per hour against memory, coloured by quota state; rows need instance_type, memory_gib, price."""
    fig = px.scatter(
        rows,
        x="memory_gib",
        y="price_per_hour",
        color=quota_column,
        hover_name="instance_type",
        log_x=True,
        log_y=True,
        labels={"memory_gib": "memory (GiB)", "price_per_hour": f"{purchase} $/hour"},
        title="Price against memory, coloured by quota",
    )
    return fig
